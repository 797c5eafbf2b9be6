/** Reload from a file, reload serialization, and signal handling in a child process. */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { reloadFromFile, serializeReloads } from "../../src/admin/lifecycle.ts";
import type { ReloadResult } from "../../src/admin/server.ts";
import type { Config } from "../../src/config/index.ts";
import { runtime } from "../../src/runtime/index.ts";
import type { CaseGroup } from "../support/cases.ts";

let directory = "";
const children: ChildProcess[] = [];

function spawnSignalChild(env: Record<string, string> = {}, file = "./signal-child.ts") {
  const script = new URL(file, import.meta.url).pathname;
  const args = runtime.name === "deno" ? ["run", "-A", script] : [script];
  const child = spawn(process.execPath, args, {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  children.push(child);

  let output = "";
  const waiters: { text: string; resolve: () => void }[] = [];
  child.stdout?.setEncoding("utf8");
  child.stdout?.on("data", (chunk: string) => {
    output += chunk;
    for (const waiter of waiters.filter((w) => output.includes(w.text))) waiter.resolve();
  });

  const waitFor = (text: string) =>
    new Promise<void>((resolve, reject) => {
      if (output.includes(text)) return resolve();
      const timer = setTimeout(() => reject(new Error(`no "${text}" in: ${output}`)), 5000);
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      waiters.push({ text, resolve: done });
    });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  // `process.kill` rather than `child.kill`, because Deno 2.9.6's
  // `child.kill` delivers only the first signal sent to a child.
  const signal = (name: NodeJS.Signals) => process.kill(child.pid ?? 0, name);
  return { signal, waitFor, exited, output: () => output };
}

export const lifecycleCases: CaseGroup = {
  name: "lifecycle",
  async beforeAll() {
    directory = await mkdtemp(join(tmpdir(), "relight-lifecycle-"));
  },
  async afterAll() {
    for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
    await rm(directory, { recursive: true, force: true });
  },
  cases: [
    {
      name: "reload applies valid file",
      async run() {
        const file = join(directory, "valid.yaml");
        await writeFile(file, "slicer:\n  url: http://127.0.0.1:9\nshutdown_timeout: 7s\n");
        const applied: Config[] = [];
        const result = await reloadFromFile(file, (config) => {
          applied.push(config);
          return Promise.resolve();
        });

        assert.deepEqual(result, { ok: true });
        assert.equal(applied.length, 1);
        assert.equal(applied[0]?.shutdownTimeoutMs, 7000);
      },
    },
    {
      name: "reload rejects invalid file",
      async run() {
        const file = join(directory, "invalid.yaml");
        await writeFile(file, "slicer:\n  url: http://127.0.0.1:9\nshutdown_timeout: soon\n");
        let applied = 0;
        const result = await reloadFromFile(file, () => {
          applied += 1;
          return Promise.resolve();
        });

        assert.equal(result.ok, false);
        assert.equal(applied, 0);
        assert.match(result.ok ? "" : result.errors.join("\n"), /shutdown_timeout/);
      },
    },
    {
      name: "reload reports missing file",
      async run() {
        const result = await reloadFromFile(
          join(directory, "absent.yaml"),
          () => Promise.resolve(),
        );
        assert.equal(result.ok, false);
        assert.match(result.ok ? "" : result.errors[0] ?? "", /not found/);
      },
    },
    {
      name: "reload reports apply failure",
      async run() {
        const file = join(directory, "valid.yaml");
        await writeFile(file, "slicer:\n  url: http://127.0.0.1:9\n");
        const result = await reloadFromFile(file, () => Promise.reject(new Error("port in use")));
        assert.deepEqual(result, { ok: false, errors: ["port in use"] });
      },
    },
    {
      name: "reloads run one at a time",
      async run() {
        let active = 0;
        let maxActive = 0;
        let runs = 0;
        const reload = serializeReloads(async (): Promise<ReloadResult> => {
          active += 1;
          runs += 1;
          maxActive = Math.max(maxActive, active);
          await new Promise((resolve) => setTimeout(resolve, 20));
          active -= 1;
          return { ok: true };
        });

        const results = await Promise.all([reload(), reload(), reload(), reload()]);
        assert.equal(maxActive, 1);
        // The first runs at once; the other three share the one run queued after it.
        assert.equal(runs, 2);
        assert.equal(results.length, 4);

        await reload();
        assert.equal(runs, 3);
      },
    },
    {
      name: "SIGHUP reloads, SIGTERM stops",
      async run() {
        const { signal, waitFor, exited } = spawnSignalChild();
        await waitFor("ready");
        signal("SIGHUP");
        await waitFor("reload 1");
        signal("SIGHUP");
        await waitFor("reload 2");
        signal("SIGTERM");
        await waitFor("shutdown SIGTERM");

        assert.equal(await exited, 0);
      },
    },
    {
      name: "pending SIGHUP reloads at install",
      async run() {
        const { waitFor, output, signal, exited } = spawnSignalChild({ PENDING_HANGUP: "1" });
        await waitFor("ready");

        assert.equal(output(), "reload 1\nready\n");
        signal("SIGKILL");
        await exited;
      },
    },
    {
      name: "early SIGHUP handler notes signals",
      async run() {
        const { signal, waitFor, exited, output } = spawnSignalChild({}, "./hangup-child.ts");
        await waitFor("held");
        signal("SIGHUP");
        await waitFor("hangup 1");
        signal("SIGHUP");
        await waitFor("hangup 2");
        signal("SIGTERM");

        assert.notEqual(await exited, 0);
        assert.equal(output(), "held\nhangup 1\nhangup 2\n");
      },
    },
    {
      name: "second SIGINT forces exit",
      async run() {
        const { signal, waitFor, exited, output } = spawnSignalChild({
          SHUTDOWN_MS: "5000",
          REPEAT_WINDOW_MS: "100",
        });
        await waitFor("ready");
        signal("SIGINT");
        await waitFor("shutdown SIGINT");
        await new Promise((resolve) => setTimeout(resolve, 200));
        signal("SIGINT");

        assert.equal(await exited, 1);
        assert.match(output(), /forced/);
        assert.doesNotMatch(output(), /stopped/);
      },
    },
    {
      name: "repeated stop signal ignored",
      async run() {
        // One Ctrl-C under `deno task` arrives twice a few ms apart, and
        // systemd's group kill can do the same with SIGTERM.
        const { signal, waitFor, exited, output } = spawnSignalChild({ SHUTDOWN_MS: "300" });
        await waitFor("ready");
        signal("SIGINT");
        await waitFor("shutdown SIGINT");
        signal("SIGINT");
        signal("SIGTERM");

        assert.equal(await exited, 0);
        assert.match(output(), /stopped/);
        assert.doesNotMatch(output(), /forced/);
      },
    },
  ],
};
