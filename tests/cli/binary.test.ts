import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { copyFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import packageJson from "../../package.json" with { type: "json" };
import { TempDir } from "./support.ts";

const ROOT = join(import.meta.dir, "../..");
const dir = new TempDir();
const binary = join(dir.path, "relight");

/** Runs the compiled binary in the temp directory with only PATH and HOME set. */
function runBinary(args: string[]) {
  return spawnSync(binary, args, {
    cwd: dir.path,
    env: { PATH: process.env["PATH"] ?? "", HOME: dir.path },
    encoding: "utf8",
    timeout: 20_000,
  });
}

beforeAll(() => {
  // The package's own build script, with the output moved out of dist/ so
  // that concurrent test runs do not overwrite each other's binary.
  const build = spawnSync("npm", ["run", "build", "--silent", "--", "--outfile", binary], {
    cwd: ROOT,
    encoding: "utf8",
    timeout: 120_000,
  });
  if (build.status !== 0) throw new Error(`npm run build failed:\n${build.stderr}`);

  copyFileSync(join(ROOT, "relight.yaml"), join(dir.path, "relight.yaml"));
  dir.write(".env", "SLICER_URL=http://127.0.0.1:1\n");
  dir.write("bunfig.toml", 'preload = ["./preload.ts"]\n');
  dir.write("preload.ts", 'console.error("bunfig.toml was loaded");\n');
}, 120_000);

afterAll(() => dir.remove());

describe("compiled binary", () => {
  test("prints its version", () => {
    const result = runBinary(["--version"]);
    expect(result.status).toBe(0);
    expect(result.stdout.trim()).toBe(`relight ${packageJson.version}`);
  });

  test("checks the example config", () => {
    const result = runBinary(["check", "--config", "relight.yaml"]);
    expect(result.status).toBe(0);
    expect(result.stdout).toContain("# Effective configuration from relight.yaml");
    expect(result.stdout).toContain(`url: unix:${dir.path}/slicer-mac/slicer.sock`);
  });

  test("ignores .env and bunfig.toml", () => {
    const result = runBinary(["check", "--config", "relight.yaml"]);
    expect(result.stdout).not.toContain("http://127.0.0.1:1");
    expect(result.stderr).not.toContain("bunfig.toml was loaded");
  });

  test("missing config exits 2", () => {
    const result = runBinary(["check", "--config", "absent.yaml"]);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain("absent.yaml: config file not found");
  });
});
