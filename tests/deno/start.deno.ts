/**
 * Runs `deno task start` as a user would, with the permissions that deno.json
 * grants and nothing more, and proxies a request through it to a paused VM of
 * the simulator.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { denoRuntime } from "../../src/runtime/deno.ts";
import { SimProcess } from "../harness/sim.ts";

const repoRoot = fileURLToPath(new URL("../../", import.meta.url));

/** Maximum wait for Relight to log its start, in ms. */
const startTimeoutMs = 20_000;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Resolves with everything the child wrote to stderr once `text` appears in it. */
function waitForOutput(child: ChildProcess, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let output = "";
    const timer = setTimeout(() => {
      reject(new Error(`no "${text}" within ${startTimeoutMs} ms; stderr:\n${output}`));
    }, startTimeoutMs);
    child.stderr?.on("data", (chunk: Uint8Array) => {
      output += new TextDecoder().decode(chunk);
      if (output.includes(text)) {
        clearTimeout(timer);
        resolve(output);
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`relight exited with ${code} before "${text}"; stderr:\n${output}`));
    });
  });
}

function exitCode(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once("exit", (code) => resolve(code)));
}

Deno.test({
  name: "deno task start serves a paused VM",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const sim = await SimProcess.start({
      groups: [{ name: "apps", vms: [{ tags: ["hello"], status: "Paused" }] }],
    });
    const dir = mkdtempSync(join(tmpdir(), "relight-deno-start-"));
    let child: ChildProcess | undefined;
    try {
      const port = await freePort();
      const configFile = join(dir, "relight.yaml");
      writeFileSync(
        configFile,
        [
          `listen: 127.0.0.1:${port}`,
          "slicer:",
          `  url: ${sim.socketPath}`,
          "defaults:",
          "  host_group: apps",
        ].join("\n"),
      );

      child = spawn(join(repoRoot, "node_modules/deno/deno"), [
        "task",
        "--quiet",
        "start",
        "--config",
        configFile,
      ], { cwd: repoRoot, stdio: ["ignore", "ignore", "pipe"], detached: true });
      await waitForOutput(child, "relight started");

      // Deno's global fetch drops a caller-set Host, but the adapter's client keeps it.
      const fetchWithHost = denoRuntime.createFetch({});
      const response = await fetchWithHost(`http://127.0.0.1:${port}/`, {
        headers: { host: "hello" },
      });
      const body = await response.text();
      const vm = await sim.vmByTag("hello");

      assert.equal(response.status, 200);
      assert.match(body, new RegExp(vm.hostname));
      assert.equal(vm.status, "Running");
      assert.equal(await sim.countCalls("resume", vm.hostname), 1);

      // A terminal's Ctrl-C and systemd's stop signal the whole process group.
      process.kill(-child.pid!, "SIGTERM");
      assert.equal(await exitCode(child), 0);
    } finally {
      if (child?.pid !== undefined && child.exitCode === null) process.kill(-child.pid, "SIGKILL");
      await sim.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  },
});
