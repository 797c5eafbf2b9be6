/**
 * External programs the suite needs, installed from Debian packages when
 * missing, and the machine facts that go into the report.
 */
import { spawnSync } from "node:child_process";
import { cpus, totalmem } from "node:os";
import { readFileSync } from "node:fs";

/** Program name and the Debian package that provides it. */
const required: [program: string, debianPackage: string][] = [
  ["nginx", "nginx-light"],
  ["caddy", "caddy"],
  ["wrk", "wrk"],
  ["curl", "curl"],
  ["haproxy", "haproxy"],
];

function which(program: string): string | undefined {
  const result = spawnSync("sh", ["-c", `command -v ${program}`], { encoding: "utf8" });
  const path = result.stdout.trim();
  return result.status === 0 && path ? path : undefined;
}

/**
 * Installs the missing programs with apt-get. Needs root, as on a CI runner
 * or in a container. Elsewhere it fails with the apt-get output.
 */
export function ensureTools(log: (line: string) => void): void {
  const missing = required.filter(([program]) => !which(program));
  if (missing.length === 0) return;

  const packages = missing.map(([, debianPackage]) => debianPackage);
  log(`installing ${packages.join(", ")} with apt-get`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  for (const args of [["update", "-qq"], ["install", "-y", "-qq", ...packages]]) {
    const result = spawnSync("apt-get", args, { encoding: "utf8", env });
    if (result.status !== 0) {
      throw new Error(
        `apt-get ${args.join(" ")} failed (exit ${result.status}): ` +
          `${result.stderr || result.error?.message}; install ${packages.join(", ")} by hand`,
      );
    }
  }
}

function firstLineOf(command: string, args: string[]): string {
  // nginx -v prints to stderr and wrk -v exits with 1, so both streams are read
  // whatever the exit code.
  const result = spawnSync(command, args, { encoding: "utf8" });
  const text = `${result.stdout ?? ""}${result.stderr ?? ""}`.trim();
  return text.split("\n")[0] ?? "unknown";
}

export interface MachineFacts {
  cpu: string;
  cores: number;
  memoryGiB: number;
  kernel: string;
  versions: Record<string, string>;
}

export function machineFacts(): MachineFacts {
  const cpuList = cpus();
  let kernel = "";
  try {
    kernel = readFileSync("/proc/sys/kernel/osrelease", "utf8").trim();
  } catch {
    kernel = "unknown";
  }
  return {
    cpu: cpuList[0]?.model ?? "unknown",
    cores: cpuList.length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    kernel,
    versions: {
      bun: process.versions["bun"] ?? "unknown",
      nginx: firstLineOf("nginx", ["-v"]),
      caddy: firstLineOf("caddy", ["version"]),
      wrk: firstLineOf("wrk", ["-v"]),
      haproxy: firstLineOf("haproxy", ["-v"]),
      curl: firstLineOf("curl", ["--version"]).split(" ").slice(0, 2).join(" "),
    },
  };
}
