/**
 * The watchdog that kills VM process groups when the simulator's process
 * dies: tested with real `sleep` process groups, a real watchdog process, and
 * a simulator in a child process that is killed with SIGKILL.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { isGroupAlive, sleep } from "../../src/sim/app-process.ts";
import { Watchdog } from "../../src/sim/watchdog.ts";

const cleanups: (() => void | Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Starts `sleep 60` as the leader of a new process group and returns its pgid. */
async function startGroup(): Promise<number> {
  const child = spawn("sleep", ["60"], { detached: true, stdio: "ignore" });
  const pid = await new Promise<number>((resolve, reject) => {
    child.once("spawn", () => resolve(child.pid ?? -1));
    child.once("error", reject);
  });
  child.unref();
  cleanups.push(() => {
    if (isGroupAlive(pid)) process.kill(-pid, "SIGKILL");
  });
  return pid;
}

async function startWatchdog(): Promise<Watchdog> {
  const watchdog = await Watchdog.start();
  cleanups.push(() => watchdog.close());
  return watchdog;
}

/** Polls until no group in `pgids` exists, for at most `ms`, and returns those still alive. */
async function waitForGroupsGone(pgids: number[], ms: number): Promise<number[]> {
  const deadline = Date.now() + ms;
  while (pgids.some((pgid) => isGroupAlive(pgid)) && Date.now() < deadline) await sleep(20);
  return pgids.filter((pgid) => isGroupAlive(pgid));
}

describe("watchdog", () => {
  test("kills watched groups when its input closes", async () => {
    const watchdog = await startWatchdog();
    const running = await startGroup();
    const frozen = await startGroup();
    process.kill(-frozen, "SIGSTOP");

    watchdog.watch(running);
    watchdog.watch(frozen);
    await watchdog.close();

    expect(await waitForGroupsGone([running, frozen], 2000)).toEqual([]);
  });

  test("leaves unwatched groups alone", async () => {
    const watchdog = await startWatchdog();
    const unwatched = await startGroup();
    const killed = await startGroup();

    watchdog.watch(unwatched);
    watchdog.watch(killed);
    watchdog.unwatch(unwatched);
    await watchdog.close();

    expect(await waitForGroupsGone([killed], 2000)).toEqual([]);
    expect(isGroupAlive(unwatched)).toBe(true);
  });

  test("exits when closed with nothing watched", async () => {
    const watchdog = await Watchdog.start();
    const pid = watchdog.pid ?? -1;
    expect(isGroupAlive(pid)).toBe(true);

    await watchdog.close();

    expect(isGroupAlive(pid)).toBe(false);
  });
});

const childScript = fileURLToPath(new URL("./watchdog-child.ts", import.meta.url));

describe("simulator in a killed process", () => {
  test("SIGKILL of its process ends every VM", async () => {
    const dir = mkdtempSync(join(tmpdir(), "relight-sim-watchdog-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));

    const child = spawn(process.execPath, [childScript, join(dir, "slicer.sock")], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    cleanups.push(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    });

    let output = "";
    const pids = await new Promise<number[]>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no pid line: ${output}`)), 15_000);
      child.stdout?.on("data", (chunk: Buffer) => {
        output += chunk.toString();
        const line = /^pids (.*)$/m.exec(output)?.[1];
        if (line === undefined) return;
        clearTimeout(timer);
        resolve(line.split(" ").map(Number));
      });
    });
    for (const pid of pids) {
      cleanups.push(() => {
        if (isGroupAlive(pid)) process.kill(-pid, "SIGKILL");
      });
    }
    expect(pids.length).toBe(2);
    expect(pids.every((pid) => isGroupAlive(pid))).toBe(true);

    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGKILL");
    await exited;

    expect(await waitForGroupsGone(pids, 3000)).toEqual([]);
  }, 20_000);
});
