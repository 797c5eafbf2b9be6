/**
 * The `relight` command as an operator runs it: a real process against the
 * simulator, reloaded with SIGHUP and stopped with SIGTERM while a slow
 * response is in flight, with its stderr log scanned for tokens.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { runtime } from "../../src/runtime/index.ts";
import { waitFor } from "../harness/relight.ts";
import { SimProcess } from "../harness/sim.ts";
import type { CaseGroup } from "../support/cases.ts";

const mainScript = fileURLToPath(new URL("../../src/main.ts", import.meta.url));
const slicerToken = "process-slicer-token-91b2";
const adminToken = "process-admin-token-3e7f";

let sim: SimProcess;
let directory = "";
const children: ChildProcess[] = [];

interface LogRecord {
  message?: string;
  listen?: string;
  admin?: string;
  [key: string]: unknown;
}

function startRelightProcess(configFile: string) {
  const args = runtime.name === "deno"
    ? ["run", "-A", mainScript, "--config", configFile]
    : [mainScript, "--config", configFile];
  const child = spawn(process.execPath, args, { stdio: ["ignore", "ignore", "pipe"] });
  children.push(child);

  let stderr = "";
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (chunk: string) => {
    stderr += chunk;
  });
  const records = (): LogRecord[] => {
    const lines = stderr.split("\n").filter((line) => line.startsWith("{"));
    return lines.map((line) => JSON.parse(line) as LogRecord);
  };
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, records, exited, stderr: () => stderr };
}

export const processCases: CaseGroup = {
  name: "relight process",
  async beforeAll() {
    sim = await SimProcess.start({ groups: [{ name: "apps" }] });
    directory = await mkdtemp(join(tmpdir(), "relight-process-"));
  },
  async afterAll() {
    for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
    await sim?.stop();
    await rm(directory, { recursive: true, force: true });
  },
  cases: [
    {
      name: "SIGHUP reload, SIGTERM drains",
      timeoutMs: 30_000,
      async run() {
        await sim.createVm("apps", ["proc"]);
        const file = join(directory, "relight.yaml");
        const valid = [
          "listen: 127.0.0.1:0",
          "slicer:",
          `  url: ${JSON.stringify(sim.socketPath)}`,
          `  token: ${slicerToken}`,
          "admin:",
          "  listen: 127.0.0.1:0",
          `  token: ${adminToken}`,
          "log:",
          "  level: debug",
          "  format: json",
          "  access: true",
          "shutdown_timeout: 10s",
        ].join("\n");
        await writeFile(file, `${valid}\n`);

        const relight = startRelightProcess(file);
        await waitFor(
          () => relight.records().some((record) => record.message === "relight started"),
          "relight started",
          15_000,
        );
        const started = relight.records().find((record) => record.message === "relight started");
        const base = `http://${started?.listen}`;
        const admin = `http://${started?.admin}`;
        // Deno's global fetch drops a caller-set Host header; the adapter's keeps it.
        const hostFetch = runtime.createFetch({});
        const get = (path: string) => hostFetch(`${base}${path}`, { headers: { host: "proc" } });

        const first = await get("/");
        assert.equal(first.status, 200);
        await first.text();

        await writeFile(file, `${valid}\ndefaults:\n  idle_timeout: never-valid\n`);
        process.kill(relight.child.pid ?? 0, "SIGHUP");
        await waitFor(
          () => relight.records().some((record) => record.message?.includes("reload rejected")),
          "the reload to be rejected",
        );
        const afterReload = await get("/");
        assert.equal(afterReload.status, 200);
        await afterReload.text();

        const slow = get("/slow?ms=700");
        await waitFor(async () => {
          const response = await fetch(`${admin}/status`, {
            headers: { authorization: `Bearer ${adminToken}` },
          });
          const status = (await response.json()) as { vms: { inFlightRequests: number }[] };
          return status.vms.some((vm) => vm.inFlightRequests > 0);
        }, "the slow request to be in flight");
        process.kill(relight.child.pid ?? 0, "SIGTERM");

        const response = await slow;
        assert.equal(response.status, 200);
        assert.equal(await response.text(), "slept 700 ms\n");
        assert.equal(await relight.exited, 0);

        const messages = relight.records().map((record) => record.message);
        assert.ok(messages.includes("shutdown requested"));
        assert.ok(messages.includes("relight stopped"));
        assert.ok(!relight.stderr().includes(slicerToken), "slicerd token in the log");
        assert.ok(!relight.stderr().includes(adminToken), "admin token in the log");
      },
    },
  ],
};
