/**
 * The stand-alone simulator (`src/sim/main.ts`): its ready banner, its
 * control API, argument errors, and a clean exit on SIGTERM and SIGINT.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { isGroupAlive } from "../../src/sim/app-process.ts";

const simMain = fileURLToPath(new URL("../../src/sim/main.ts", import.meta.url));
const demoFleetPath = fileURLToPath(new URL("../../scripts/demo-fleet.yaml", import.meta.url));

interface Running {
  child: ChildProcess;
  dir: string;
  socketPath: string;
  controlUrl: string;
  output: () => string;
}

const cleanups: (() => void)[] = [];

afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

function makeDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "relight-sim-main-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function run(args: string[]): ChildProcess {
  const child = spawn(process.execPath, [simMain, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  cleanups.push(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });
  return child;
}

function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once("exit", (code) => resolve(code)));
}

async function startMain(fleetPath = demoFleetPath): Promise<Running> {
  const dir = makeDir();
  const socketPath = join(dir, "slicer.sock");
  const child = run(["--fleet", fleetPath, "--socket", socketPath, "--control", "127.0.0.1:0"]);
  let output = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  const controlUrl = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ready banner: ${output}`)), 15_000);
    child.stdout?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      const match = /control:\s+(\S+)/.exec(output);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    child.once("exit", () => reject(new Error(`simulator exited early: ${output}`)));
  });
  return { child, dir, socketPath, controlUrl, output: () => output };
}

async function listPids(controlUrl: string): Promise<number[]> {
  const vms = (await (await fetch(`${controlUrl}vms`)).json()) as { pid?: number }[];
  return vms.flatMap((vm) => (vm.pid === undefined ? [] : [vm.pid]));
}

describe("stand-alone simulator", () => {
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    test(`${signal} stops every VM and removes the socket`, async () => {
      const running = await startMain();
      expect(running.output()).toContain("apps-3  Paused");
      expect(existsSync(running.socketPath)).toBe(true);
      const pids = await listPids(running.controlUrl);
      expect(pids.length).toBe(3);

      running.child.kill(signal);
      expect(await exited(running.child)).toBe(0);
      for (const pid of pids) expect(`${pid}:${isGroupAlive(pid)}`).toBe(`${pid}:false`);
      expect(existsSync(running.socketPath)).toBe(false);
    }, 20_000);
  }

  test("SIGKILL ends running and frozen VMs", async () => {
    const running = await startMain();
    const vms = (await (await fetch(`${running.controlUrl}vms`)).json()) as {
      pid: number;
      status: string;
    }[];
    const pids = vms.map((vm) => vm.pid);
    expect(vms.filter((vm) => vm.status === "Running").length).toBe(2);
    expect(vms.filter((vm) => vm.status === "Paused").length).toBe(1);

    running.child.kill("SIGKILL");
    await exited(running.child);
    const deadline = Date.now() + 5000;
    while (pids.some((pid) => isGroupAlive(pid)) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const alive = pids.filter((pid) => isGroupAlive(pid));
    for (const pid of alive) process.kill(-pid, "SIGKILL");
    if (existsSync(running.socketPath)) rmSync(running.socketPath);

    expect(alive).toEqual([]);
  }, 20_000);

  test("serves the API on the socket", async () => {
    const running = await startMain();
    const response = await fetch("http://localhost/nodes?tag=hello", { unix: running.socketPath });
    const nodes = (await response.json()) as { hostname: string }[];
    expect(nodes.map((node) => node.hostname)).toEqual(["apps-1"]);

    const started = running.output().split("\n").find((line) => line.includes("simulator started"));
    expect(started).toContain(`socket=${running.socketPath}`);
    expect(started).toContain(`control=${new URL(running.controlUrl).origin}`);
    expect(started).not.toContain("undefined");
    running.child.kill("SIGTERM");
    await exited(running.child);
  }, 20_000);

  test("missing fleet exits with usage", async () => {
    const child = run([]);
    let stderr = "";
    child.stderr?.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    expect(await exited(child)).toBe(2);
    expect(stderr).toContain("Missing --fleet FILE");
    expect(stderr).toContain("Usage:");
  });

  test("invalid fleet names the field", async () => {
    const dir = makeDir();
    const fleetPath = join(dir, "fleet.yaml");
    writeFileSync(fleetPath, "host_groups:\n  - name: apps\n    app_port: 70000\n");
    const child = run(["--fleet", fleetPath, "--socket", join(dir, "s.sock")]);
    let stderr = "";
    child.stderr?.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    expect(await exited(child)).toBe(2);
    expect(stderr).toContain("host_groups.0.app_port");
  });

  test("non-loopback listen address is rejected", async () => {
    const child = run(["--fleet", demoFleetPath, "--listen", "0.0.0.0:0"]);
    let stderr = "";
    child.stderr?.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    expect(await exited(child)).not.toBe(0);
    expect(stderr).toContain("loopback only");
  });
});
