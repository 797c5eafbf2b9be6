/**
 * Metrics, status, admin control, reload and graceful shutdown of a real
 * Relight against the simulator, with real app processes behind it.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Config, loadConfig } from "../../src/config/index.ts";
import { startRelight } from "../../src/relight.ts";
import { runtime } from "../../src/runtime/index.ts";
import type { StatusReport } from "../../src/status.ts";
import {
  catchAllSite,
  closed,
  nextMessage,
  openWebSocket,
  testConfig,
  waitFor,
  withRelight,
} from "../harness/relight.ts";
import { SimProcess } from "../harness/sim.ts";
import type { CaseGroup } from "../support/cases.ts";
import { sampleValue } from "./metrics.cases.ts";

let sim: SimProcess;
let directory = "";

const adminListen = { hostname: "127.0.0.1", port: 0 };

// Requests that set Host go through the adapter's fetch, because Deno's
// global fetch drops a caller-set Host header.
const hostFetch = runtime.createFetch({});

function config(overrides: Partial<Config> = {}): Config {
  return testConfig(sim.socketPath, {
    sites: [catchAllSite()],
    admin: { listen: adminListen },
    ...overrides,
  });
}

function adminUrl(address: { hostname: string; port: number } | undefined, path: string): string {
  assert.ok(address, "admin listener is bound");
  return `http://${address.hostname}:${address.port}${path}`;
}

/** Sums every sample of `metric` whose labels contain each of `labels`. */
function sumSamples(text: string, metric: string, ...labels: string[]): number {
  let total = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${metric}{`)) continue;
    const labelText = line.slice(metric.length, line.lastIndexOf("}") + 1);
    if (labels.every((label) => labelText.includes(label))) {
      total += Number(line.slice(line.lastIndexOf(" ") + 1));
    }
  }
  return total;
}

async function writeConfigFile(name: string, body: string): Promise<string> {
  const file = join(directory, name);
  await writeFile(file, body);
  return file;
}

export const operationsCases: CaseGroup = {
  name: "operations",
  async beforeAll() {
    sim = await SimProcess.start({ groups: [{ name: "apps" }] });
    directory = await mkdtemp(join(tmpdir(), "relight-operations-"));
  },
  async afterAll() {
    await sim?.stop();
    await rm(directory, { recursive: true, force: true });
  },
  cases: [
    {
      name: "metrics after requests, wake, pause",
      async run() {
        const blog = await sim.createVm("apps", ["mblog"]);
        const shop = await sim.createVm("apps", ["mshop"], "Paused");
        await withRelight(config(), async ({ get, relight }) => {
          for (let i = 0; i < 3; i++) {
            const response = await get("mblog");
            assert.equal(response.status, 200);
            await response.text();
          }
          const woken = await get("mshop");
          assert.equal(woken.status, 200);
          await woken.text();
          const missing = await get("nothing-here");
          assert.equal(missing.status, 404);
          await missing.text();

          const pause = await fetch(adminUrl(relight.adminAddress, `/vms/${shop.hostname}/pause`), {
            method: "POST",
          });
          assert.equal(pause.status, 200);
          assert.deepEqual(await pause.json(), { hostname: shop.hostname, state: "paused" });

          const text = await (await fetch(adminUrl(relight.adminAddress, "/metrics"))).text();
          const requests = `relight_requests_total{app="${blog.hostname}",status_class="2xx"}`;
          assert.equal(sampleValue(text, requests), 3);
          assert.equal(sampleValue(text, `relight_requests_total{app="*",status_class="4xx"}`), 1);
          assert.equal(
            sampleValue(text, `relight_wakes_total{app="${shop.hostname}",result="ok"}`),
            1,
          );
          assert.equal(
            sampleValue(text, `relight_pauses_total{app="${shop.hostname}",result="ok"}`),
            1,
          );
          assert.equal(sampleValue(text, `relight_in_flight_requests{app="${blog.hostname}"}`), 0);
          assert.ok((sampleValue(text, 'relight_vms{state="paused"}') ?? 0) >= 1);
          assert.ok(sumSamples(text, "relight_slicer_requests_total", 'status="200"') >= 2);
          assert.ok((sampleValue(text, 'relight_index_refreshes_total{result="ok"}') ?? 0) >= 1);
          assert.equal(sampleValue(text, "relight_slicer_reachable"), 1);
          assert.doesNotMatch(text, /nothing-here/);
        }, { processMetrics: false });
      },
    },
    {
      name: "status lists VMs",
      async run() {
        const vm = await sim.createVm("apps", ["sblog", "extra"]);
        await withRelight(config(), async ({ get, relight }) => {
          const response = await get("sblog");
          await response.text();

          const status =
            (await (await fetch(adminUrl(relight.adminAddress, "/status"))).json()) as StatusReport;
          const entry = status.vms.find((item) => item.hostname === vm.hostname);
          assert.ok(entry, `${vm.hostname} in /status`);
          assert.deepEqual(entry.tags, ["sblog", "extra"]);
          assert.equal(entry.ip, vm.ip);
          assert.equal(entry.state, "running");
          assert.equal(entry.inFlightRequests, 0);
          assert.notEqual(entry.lastActivity, null);
          assert.equal(status.slicer.reachable, true);
          assert.equal(typeof status.index.ageMs, "number");

          const health = await fetch(adminUrl(relight.adminAddress, "/healthz"));
          assert.equal(health.status, 200);
          assert.deepEqual(await health.json(), { status: "ok" });
        }, { processMetrics: false });
      },
    },
    {
      name: "admin token required",
      async run() {
        const token = "operations-admin-token-42";
        await withRelight(
          config({ admin: { listen: adminListen, token } }),
          async ({ relight }) => {
            const url = adminUrl(relight.adminAddress, "/status");
            const anonymous = await fetch(url);
            assert.equal(anonymous.status, 401);
            await anonymous.body?.cancel();

            const authorized = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
            assert.equal(authorized.status, 200);
            await authorized.body?.cancel();
          },
          { processMetrics: false },
        );
      },
    },
    {
      name: "admin wake, busy pause",
      async run() {
        const vm = await sim.createVm("apps", ["manual"], "Paused");
        await withRelight(config(), async ({ baseUrl, relight }) => {
          const control = (action: string) =>
            fetch(adminUrl(relight.adminAddress, `/vms/${vm.hostname}/${action}`), {
              method: "POST",
            });

          const woke = await control("wake");
          assert.equal(woke.status, 200);
          assert.deepEqual(await woke.json(), { hostname: vm.hostname, state: "running" });
          assert.equal((await sim.getVm(vm.hostname)).status, "Running");

          const socket = await openWebSocket(baseUrl, "manual", "/ws");
          const busy = await control("pause");
          assert.equal(busy.status, 409);
          assert.equal(((await busy.json()) as { openWebSockets: number }).openWebSockets, 1);
          assert.equal((await sim.getVm(vm.hostname)).status, "Running");

          const socketClosed = closed(socket);
          socket.close(1000);
          await socketClosed;
          await waitFor(
            () =>
              relight.status().vms.some((item) =>
                item.hostname === vm.hostname && item.openWebSockets === 0
              ),
            "the WebSocket to be released",
          );
          const paused = await control("pause");
          assert.equal(paused.status, 200);
          assert.equal((await sim.getVm(vm.hostname)).status, "Paused");

          const unknown = await fetch(adminUrl(relight.adminAddress, "/vms/no-such-vm/wake"), {
            method: "POST",
          });
          assert.equal(unknown.status, 404);
          await unknown.body?.cancel();
        }, { processMetrics: false });
      },
    },
    {
      name: "forced pause closes WebSockets",
      async run() {
        const vm = await sim.createVm("apps", ["forced"]);
        await sim.createVm("apps", ["bystander"]);
        await withRelight(config(), async ({ baseUrl, relight }) => {
          const socket = await openWebSocket(baseUrl, "forced", "/ws");
          const other = await openWebSocket(baseUrl, "bystander", "/ws");
          const socketClosed = closed(socket);

          const paused = await fetch(
            adminUrl(relight.adminAddress, `/vms/${vm.hostname}/pause?force=1`),
            { method: "POST" },
          );
          assert.equal(paused.status, 200);
          await paused.body?.cancel();
          assert.equal((await sim.getVm(vm.hostname)).status, "Paused");

          const { code, reason } = await socketClosed;
          assert.equal(code, 1001, "close code");
          assert.equal(reason, "app paused");
          await waitFor(
            () =>
              relight.status().vms.some((item) =>
                item.hostname === vm.hostname && item.openWebSockets === 0
              ),
            "the WebSocket claim to be released",
          );

          // A WebSocket to another VM stays open and relayed.
          assert.equal(other.readyState, WebSocket.OPEN, "other VM's WebSocket");
          const reply = nextMessage(other);
          other.send("still here");
          assert.equal(await reply, "still here");
          const otherClosed = closed(other);
          other.close(1000);
          await otherClosed;
        }, { processMetrics: false });
      },
    },
    {
      name: "changed listen keeps old WebSocket",
      async run() {
        await sim.createVm("apps", ["moved"]);
        const first = config();
        await withRelight(first, async ({ baseUrl, relight }) => {
          const socket = await openWebSocket(baseUrl, "moved", "/ws");
          const socketClosed = closed(socket);
          const oldPort = relight.address.port;

          await relight.reload({ ...first, listen: { hostname: "127.0.0.2", port: 0 } });
          const moved = relight.address;
          assert.equal(moved.hostname, "127.0.0.2");

          const response = await hostFetch(`http://127.0.0.2:${moved.port}/`, {
            headers: { host: "moved" },
          });
          assert.equal(response.status, 200);
          await response.text();
          await assert.rejects(
            hostFetch(`http://127.0.0.1:${oldPort}/`, { headers: { host: "moved" } }),
          );

          if (runtime.name === "deno") {
            // NOTE: Deno 2.9.6's graceful `shutdown()` also closes upgraded
            // WebSockets, so on Deno moving the listener ends them.
            await socketClosed;
            return;
          }
          socket.send("still here");
          assert.equal(await nextMessage(socket), "still here");

          socket.close(1000);
          assert.equal((await socketClosed).code, 1000);
        }, { processMetrics: false });
      },
    },
    {
      name: "reload keeps WebSocket open",
      async run() {
        const vm = await sim.createVm("apps", ["rws"]);
        const valid = [
          "listen: 127.0.0.1:0",
          `slicer:\n  url: ${JSON.stringify(sim.socketPath)}`,
          "admin:\n  listen: 127.0.0.1:0",
          "log:\n  level: error",
        ].join("\n");
        const file = await writeConfigFile("reload.yaml", `${valid}\n`);
        const relight = await startRelight(await loadConfig(file), { processMetrics: false });
        try {
          const base = `http://127.0.0.1:${relight.address.port}`;
          const socket = await openWebSocket(base, "rws", "/ws");
          const socketClosed = closed(socket);
          socket.send("before");
          assert.equal(await nextMessage(socket), "before");

          await writeFile(file, `${valid}\ndefaults:\n  idle_timeout: 10m\n`);
          const reloaded = await fetch(adminUrl(relight.adminAddress, "/reload"), {
            method: "POST",
          });
          assert.equal(reloaded.status, 200);
          await reloaded.body?.cancel();
          assert.equal(
            relight.status().vms.find((item) => item.hostname === vm.hostname)?.idleTimeoutMs,
            600_000,
          );

          await writeFile(file, `${valid}\ndefaults:\n  idle_timeout: often\n`);
          const rejected = await relight.reloadFromFile();
          assert.equal(rejected.ok, false);
          assert.match(rejected.ok ? "" : rejected.errors.join("\n"), /idle_timeout/);

          socket.send("after");
          assert.equal(await nextMessage(socket), "after");
          const entry = relight.status().vms.find((item) => item.hostname === vm.hostname);
          assert.equal(entry?.openWebSockets, 1);
          assert.equal(entry?.state, "running");
          assert.equal(entry?.idleTimeoutMs, 600_000);

          const text = await relight.metrics.render();
          assert.equal(sampleValue(text, 'relight_config_reloads_total{result="ok"}'), 1);
          assert.equal(sampleValue(text, 'relight_config_reloads_total{result="failed"}'), 1);

          socket.close(1000);
          assert.equal((await socketClosed).code, 1000);
        } finally {
          await relight.shutdown();
        }
      },
    },
    {
      name: "shutdown drains, WebSockets get 1001",
      timeoutMs: 20_000,
      async run() {
        const vm = await sim.createVm("apps", ["drain"]);
        const relight = await startRelight(config({ shutdownTimeoutMs: 5000 }), {
          processMetrics: false,
        });
        const base = `http://127.0.0.1:${relight.address.port}`;
        const socket = await openWebSocket(base, "drain", "/ws");
        const socketClosed = closed(socket);
        const slow = hostFetch(`${base}/slow?ms=800`, { headers: { host: "drain" } });
        await waitFor(
          () => relight.status().vms.some((item) => item.inFlightRequests > 0),
          "the slow request to be in flight",
        );
        await sim.clearCalls();

        const started = performance.now();
        const shutdown = relight.shutdown();
        const health = await fetch(adminUrl(relight.adminAddress, "/healthz"));
        assert.equal(health.status, 503);
        assert.deepEqual(await health.json(), {
          status: "unavailable",
          reason: "relight is not serving",
        });

        // The WebSocket is closed at once, not when the shutdown timeout
        // ends, so it closes while the slow response is still running.
        const first = await Promise.race([
          socketClosed.then(() => "websocket closed"),
          slow.then(() => "slow response done"),
        ]);
        assert.equal(first, "websocket closed");
        assert.equal((await socketClosed).code, 1001);

        const response = await slow;
        assert.equal(response.status, 200);
        assert.equal(await response.text(), "slept 800 ms\n");
        await shutdown;
        const elapsedMs = performance.now() - started;
        assert.ok(elapsedMs < 4000, `shutdown took ${elapsedMs} ms, close to its 5 s timeout`);

        await assert.rejects(hostFetch(base, { headers: { host: "drain" } }));
        assert.equal(await sim.countCalls("pause", vm.hostname), 0);
        assert.equal(await sim.countCalls("resume", vm.hostname), 0);
      },
    },
    {
      name: "no token in any log line",
      async run() {
        const slicerToken = "slicer-secret-token-7f3a9c";
        const adminToken = "admin-secret-token-c41d0e";
        const vm = await sim.createVm("apps", ["logsafe"], "Paused");
        const base = config();
        const lines: string[] = [];
        const relight = await startRelight(
          {
            ...base,
            slicer: { ...base.slicer, token: slicerToken },
            admin: { listen: adminListen, token: adminToken },
            log: { level: "debug", format: "json", access: true },
          },
          {
            processMetrics: false,
            logging: { write: (line) => lines.push(line), repeatIntervalMs: 0 },
          },
        );
        try {
          const url = `http://127.0.0.1:${relight.address.port}/headers?token=${slicerToken}`;
          const proxied = await hostFetch(url, {
            headers: { host: "logsafe", authorization: `Bearer ${adminToken}` },
          });
          assert.equal(proxied.status, 200);
          await proxied.text();

          for (const presented of [adminToken, `${adminToken}x`, slicerToken]) {
            const response = await fetch(
              adminUrl(relight.adminAddress, `/vms/${vm.hostname}/wake`),
              {
                method: "POST",
                headers: { authorization: `Bearer ${presented}` },
              },
            );
            await response.body?.cancel();
          }
          await relight.reloadFromFile();
        } finally {
          await relight.shutdown();
        }

        assert.ok(lines.some((line) => line.includes('"message":"relight started"')));
        assert.ok(lines.some((line) => line.includes('"logger":"relight.access"')));
        assert.ok(lines.some((line) => line.includes("admin request unauthorized")));
        for (const line of lines) {
          assert.ok(!line.includes(slicerToken), `slicerd token in: ${line}`);
          assert.ok(!line.includes(adminToken), `admin token in: ${line}`);
        }
      },
    },
    {
      name: "shutdown timeout cuts slow response",
      async run() {
        await sim.createVm("apps", ["cut"]);
        const relight = await startRelight(config({ shutdownTimeoutMs: 200 }), {
          processMetrics: false,
        });
        const base = `http://127.0.0.1:${relight.address.port}`;
        // The failure is caught at once, because it may come while shutdown
        // runs, before anything awaits it.
        const slow = hostFetch(`${base}/slow?ms=5000`, { headers: { host: "cut" } })
          .then((response) => response.text())
          .then(() => undefined, (error: unknown) => error);
        await waitFor(
          () => relight.status().vms.some((item) => item.inFlightRequests > 0),
          "the slow request to be in flight",
        );

        const started = performance.now();
        await relight.shutdown();
        const elapsedMs = performance.now() - started;

        assert.ok(elapsedMs < 2000, `shutdown took ${elapsedMs} ms with a 200 ms timeout`);
        assert.ok((await slow) instanceof Error, "the cut request completed");
      },
    },
    {
      name: "shutdown timeout logs cut request",
      async run() {
        await sim.createVm("apps", ["cutlog"]);
        const lines: string[] = [];
        const relight = await startRelight(
          {
            ...config({ shutdownTimeoutMs: 200 }),
            log: { level: "info", format: "json", access: true },
          },
          {
            processMetrics: false,
            logging: { write: (line) => lines.push(line), repeatIntervalMs: 0 },
          },
        );
        const base = `http://127.0.0.1:${relight.address.port}`;
        // The failure is caught at once, because it may come while shutdown
        // runs, before anything awaits it.
        const slow = hostFetch(`${base}/slow?ms=5000`, { headers: { host: "cutlog" } })
          .then((response) => response.text())
          .then(() => undefined, (error: unknown) => error);
        await waitFor(
          () => relight.status().vms.some((item) => item.inFlightRequests > 0),
          "the slow request to be in flight",
        );

        await relight.shutdown();
        assert.ok((await slow) instanceof Error, "the cut request completed");

        const records = lines
          .map((line) => JSON.parse(line) as Record<string, unknown>)
          .filter((record) => record["logger"] === "relight.access");
        assert.equal(records.length, 1, `access lines: ${JSON.stringify(records)}`);
        assert.equal(records[0]?.["path"], "/slow");
        assert.equal(records[0]?.["status"], 503);
        assert.equal(records[0]?.["cut"], true);
        const errors = lines.filter((line) => line.includes('"level":"error"'));
        assert.deepEqual(errors, []);
      },
    },
  ],
};
