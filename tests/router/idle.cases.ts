/**
 * Idle pausing through the router, driven by a test clock: idle VMs are
 * paused after their idle timeout, and never under an open connection.
 */
import assert from "node:assert/strict";
import type { CaseGroup } from "../support/cases.ts";
import {
  catchAllSite,
  closed,
  nextMessage,
  openWebSocket,
  testConfig,
  waitFor,
  wildcardSite,
  withRelight,
} from "../harness/relight.ts";
import { SimProcess } from "../harness/sim.ts";

let sim: SimProcess;

const idleTimeoutMs = 60_000;

function config() {
  return testConfig(sim.socketPath, {
    sites: [catchAllSite({ idleTimeoutMs })],
    watchIntervalMs: 10_000,
  });
}

/** Delays every simulated call to `endpoint` by `ms`; 0 removes the delay. */
async function setLatency(endpoint: string, ms: number): Promise<void> {
  const response = await fetch(`${sim.controlUrl}latency`, {
    method: "PUT",
    body: JSON.stringify({ endpoint, ms }),
    headers: { "content-type": "application/json" },
  });
  assert.equal(response.status, 200, await response.text());
}

async function simStatus(hostname: string): Promise<string> {
  return (await sim.getVm(hostname)).status;
}

export const idleCases: CaseGroup = {
  name: "router idle pausing",
  async beforeAll() {
    sim = await SimProcess.start({ groups: [{ name: "apps" }, { name: "other" }] });
  },
  async afterAll() {
    await sim?.stop();
  },
  cases: [
    {
      name: "idle VM is paused",
      async run() {
        const vm = await sim.createVm("apps", ["dozy"]);
        const lines: string[] = [];
        const withJsonLog = {
          ...config(),
          log: { level: "info" as const, format: "json" as const, access: false },
        };
        const logging = { write: (line: string) => lines.push(line), repeatIntervalMs: 0 };
        await withRelight(withJsonLog, async ({ get, clock }) => {
          const response = await get("dozy");
          await response.text();

          await clock.advance(idleTimeoutMs - 10_000);
          assert.equal(await sim.countCalls("pause", vm.hostname), 0, "paused too early");

          await clock.advance(10_000);
          await waitFor(async () => (await simStatus(vm.hostname)) === "Paused", "the pause");
          assert.equal(await sim.countCalls("pause", vm.hostname), 1);
        }, { logging });

        const paused = lines
          .map((line) => JSON.parse(line) as Record<string, unknown>)
          .find((record) => record["message"] === "vm paused");
        assert.ok(paused !== undefined, "no vm paused line");
        // The JSON lines format puts properties beside the message.
        assert.equal(paused["vm"], vm.hostname);
        assert.equal(paused["app"], "dozy");
        assert.equal(paused["reason"], "idle");
        assert.equal(paused["idle_ms"], idleTimeoutMs);
      },
    },
    {
      name: "two hostnames share one activity clock",
      async run() {
        const vm = await sim.createVm("apps", ["twofaced"]);
        const twoSites = testConfig(sim.socketPath, {
          sites: [
            wildcardSite("apps.example.com", { idleTimeoutMs }),
            catchAllSite({ idleTimeoutMs }),
          ],
          watchIntervalMs: 10_000,
        });
        await withRelight(twoSites, async ({ get, clock }) => {
          const first = await get("twofaced");
          await first.text();
          await clock.advance(idleTimeoutMs - 20_000);
          const second = await get("twofaced.apps.example.com");
          await second.text();

          // Idle for the timeout since the first request, but not the second.
          await clock.advance(30_000);
          assert.equal(await sim.countCalls("pause", vm.hostname), 0, "paused too early");

          await clock.advance(40_000);
          await waitFor(async () => (await simStatus(vm.hostname)) === "Paused", "the pause");
        });
      },
    },
    {
      name: "failed pause is retried next tick",
      async run() {
        const vm = await sim.createVm("apps", ["stubborn"]);
        await withRelight(config(), async ({ get, clock, relight }) => {
          const response = await get("stubborn");
          await response.text();
          await sim.failNext("pause", 1, 500);

          await clock.advance(idleTimeoutMs);
          const entry = () => relight.status().vms.find((item) => item.hostname === vm.hostname);
          await waitFor(() => entry()?.state === "running", "the failed pause to settle");
          assert.equal(await sim.countCalls("pause", vm.hostname), 1);
          assert.equal(await simStatus(vm.hostname), "Running");

          await clock.advance(10_000);
          await waitFor(async () => (await simStatus(vm.hostname)) === "Paused", "the retry");
          assert.equal(await sim.countCalls("pause", vm.hostname), 2);
        });
      },
    },
    {
      name: "timed-out pause is checked first",
      async run() {
        const vm = await sim.createVm("apps", ["laggard"]);
        const slowSlicer = config();
        slowSlicer.slicer = { ...slowSlicer.slicer, requestTimeoutMs: 200 };
        await withRelight(slowSlicer, async ({ get, clock, relight }) => {
          const first = await get("laggard");
          await first.text();

          // slicerd pauses the VM after Relight's call has timed out.
          await setLatency("pause", 600);
          try {
            await clock.advance(idleTimeoutMs);
            await waitFor(async () => (await simStatus(vm.hostname)) === "Paused", "the pause");
          } finally {
            await setLatency("pause", 0);
          }
          const entry = relight.status().vms.find((item) => item.hostname === vm.hostname);
          assert.equal(entry?.state, "unknown");

          // Proxied to the paused VM, the request would wait for the stall
          // check, which starts only after 1 s without response headers.
          const started = performance.now();
          const second = await get("laggard");
          await second.text();
          const elapsedMs = performance.now() - started;

          assert.equal(second.status, 200);
          assert.equal(await sim.countCalls("resume", vm.hostname), 1);
          assert.ok(elapsedMs < 1000, `request took ${Math.round(elapsedMs)} ms`);
        });
      },
    },
    {
      name: "never-requested VM is paused",
      async run() {
        const vm = await sim.createVm("apps", ["unvisited"]);
        await withRelight(config(), async ({ clock }) => {
          await clock.advance(idleTimeoutMs);
          await waitFor(async () => (await simStatus(vm.hostname)) === "Paused", "the pause");
        });
      },
    },
    {
      name: "never tag opts out of pausing",
      async run() {
        const vm = await sim.createVm("apps", ["keeper", "relight.idle_timeout=never"]);
        await withRelight(config(), async ({ clock, relight }) => {
          await clock.advance(10 * idleTimeoutMs);
          assert.equal(await sim.countCalls("pause", vm.hostname), 0);
          const entry = relight.status().vms.find((item) => item.hostname === vm.hostname);
          assert.equal(entry?.idleTimeoutMs, null);
        });
      },
    },
    {
      name: "unconfigured host group is left alone",
      async run() {
        const vm = await sim.createVm("other", ["outsider"]);
        await withRelight(config(), async ({ clock }) => {
          await clock.advance(10 * idleTimeoutMs);
          assert.equal(await sim.countCalls("pause", vm.hostname), 0);
        });
      },
    },
    {
      name: "open WebSocket prevents pausing",
      async run() {
        const vm = await sim.createVm("apps", ["chatty"]);
        await withRelight(config(), async ({ baseUrl, clock, relight }) => {
          const socket = await openWebSocket(baseUrl, "chatty", "/ws");
          const echo = nextMessage(socket);
          socket.send("still here");
          assert.equal(await echo, "still here");
          const entry = () => relight.status().vms.find((item) => item.hostname === vm.hostname);
          assert.equal(entry()?.openWebSockets, 1);

          await clock.advance(5 * idleTimeoutMs);
          assert.equal(await sim.countCalls("pause", vm.hostname), 0, "paused under a WebSocket");

          const done = closed(socket);
          socket.close(1000, "bye");
          await done;
          await waitFor(() => entry()?.openWebSockets === 0, "the WebSocket count to drop");

          await clock.advance(idleTimeoutMs);
          await waitFor(async () => (await simStatus(vm.hostname)) === "Paused", "the pause");
        });
      },
    },
    {
      name: "streaming response prevents pausing",
      async run() {
        const vm = await sim.createVm("apps", ["streamer"]);
        await withRelight(config(), async ({ get, clock, relight }) => {
          const controller = new AbortController();
          const response = await get("streamer", "/sse?interval=60000", {
            signal: controller.signal,
          });
          assert.equal(response.status, 200);
          const reader = response.body!.getReader();
          await reader.read();

          await clock.advance(5 * idleTimeoutMs);
          assert.equal(await sim.countCalls("pause", vm.hostname), 0, "paused under a stream");
          const entry = relight.status().vms.find((item) => item.hostname === vm.hostname);
          assert.equal(entry?.inFlightRequests, 1);

          controller.abort();
          await reader.cancel().catch(() => undefined);
        });
      },
    },
  ],
};
