/**
 * Waking paused VMs through the router, against the simulator over its unix
 * socket with real app processes.
 */
import assert from "node:assert/strict";
import type { CaseGroup } from "../support/cases.ts";
import {
  catchAllSite,
  startTestRelight,
  testConfig,
  waitFor,
  withRelight,
} from "../harness/relight.ts";
import { SimProcess } from "../harness/sim.ts";

let sim: SimProcess;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function config(wakeTimeoutMs = 10_000) {
  return testConfig(sim.socketPath, { sites: [catchAllSite({ wakeTimeoutMs })] });
}

/** Time limit of one slicerd call in the hung-status cases, in ms, well under their wake_timeout. */
const shortRequestTimeoutMs = 200;

function hungStatusConfig(wakeTimeoutMs: number) {
  const base = config(wakeTimeoutMs);
  return { ...base, slicer: { ...base.slicer, requestTimeoutMs: shortRequestTimeoutMs } };
}

/** Makes the simulator hold every `GET /nodes` open until `on` is false, which releases them. */
async function hangNodes(on: boolean): Promise<void> {
  const response = await fetch(`${sim.controlUrl}hang`, {
    method: "PUT",
    body: JSON.stringify({ endpoint: "nodes", on }),
    headers: { "content-type": "application/json" },
  });
  assert.equal(response.status, 200, await response.text());
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

export const wakeCases: CaseGroup = {
  name: "router wake",
  async beforeAll() {
    sim = await SimProcess.start({ groups: [{ name: "apps" }] });
  },
  async afterAll() {
    await sim?.stop();
  },
  cases: [
    {
      name: "100 concurrent requests, one resume",
      async run() {
        const vm = await sim.createVm("apps", ["crowd"], "Paused");
        await sim.setResumeDelay(200);
        try {
          await withRelight(config(), async ({ get }) => {
            const responses = await Promise.all(
              Array.from({ length: 100 }, () => get("crowd")),
            );
            const statuses = responses.map((response) => response.status);
            await Promise.all(responses.map((response) => response.text()));

            assert.deepEqual(new Set(statuses), new Set([200]));
            assert.equal(await sim.countCalls("resume", vm.hostname), 1);
          });
        } finally {
          await sim.setResumeDelay(0);
        }
      },
    },
    {
      name: "paused VM served within wake_timeout",
      async run() {
        const vm = await sim.createVm("apps", ["sleeper"], "Paused");
        await sim.setResumeDelay(300);
        try {
          await withRelight(config(3000), async ({ get, relight }) => {
            const started = performance.now();
            const response = await get("sleeper");
            const elapsedMs = performance.now() - started;

            assert.equal(response.status, 200);
            assert.match(await response.text(), new RegExp(vm.hostname));
            assert.ok(elapsedMs >= 300, `served after ${elapsedMs} ms, before the resume delay`);
            assert.ok(elapsedMs < 3000, `served after ${elapsedMs} ms, past wake_timeout`);
            const state = relight.status().vms.find((entry) => entry.hostname === vm.hostname);
            assert.equal(state?.state, "running");
          });
        } finally {
          await sim.setResumeDelay(0);
        }
      },
    },
    {
      name: "observer gets wake and request events",
      async run() {
        const vm = await sim.createVm("apps", ["watched"], "Paused");
        const events: string[] = [];
        const observer = {
          requestFinished: (app: string, status: number) => events.push(`request ${app} ${status}`),
          wakeFinished: (app: string, result: string) => events.push(`wake ${app} ${result}`),
          pauseFinished: (app: string, result: string) => events.push(`pause ${app} ${result}`),
          slicerCall: (endpoint: string, status: number) =>
            events.push(`call ${endpoint} ${status}`),
          indexRefreshed: (ok: boolean) => events.push(`refresh ${ok}`),
          certificateOrder: () => undefined,
        };
        await withRelight(config(), async ({ get }) => {
          const response = await get("watched");
          await response.text();
          await waitFor(() => events.includes(`request ${vm.hostname} 200`), "request event");
        }, { observer });

        assert.ok(events.includes(`wake ${vm.hostname} ok`), events.join("; "));
        assert.ok(events.includes("call POST /vm/{hostname}/resume 200"), events.join("; "));
        assert.ok(events.includes("refresh true"), events.join("; "));
      },
    },
    {
      name: "wake timeout gives 503",
      async run() {
        await sim.createVm("apps", ["slowpoke"], "Paused");
        await sim.setResumeDelay(3000);
        try {
          await withRelight(config(1000), async ({ get }) => {
            const started = performance.now();
            const response = await get("slowpoke");
            const elapsedMs = performance.now() - started;
            const body = await response.text();

            assert.equal(response.status, 503);
            assert.ok(Number(response.headers.get("retry-after")) > 0, "Retry-After missing");
            assert.ok(elapsedMs >= 900, `503 after ${elapsedMs} ms, before wake_timeout`);
            assert.ok(elapsedMs < 2500, `503 after ${elapsedMs} ms, long past wake_timeout`);
            assert.doesNotMatch(body, /apps-|127\.|slicer/i);
          });
        } finally {
          await sim.setResumeDelay(0);
        }
      },
    },
    {
      name: "resume failure gives 502, then recovers",
      async run() {
        const vm = await sim.createVm("apps", ["flaky"], "Paused");
        await withRelight(config(), async ({ get }) => {
          await sim.failNext("resume", 1, 500);

          const failed = await get("flaky", "/", { headers: { accept: "application/json" } });
          const failedBody = (await failed.json()) as { error: string };
          assert.equal(failed.status, 502);
          assert.doesNotMatch(failedBody.error, /apps-|127\.|slicer/i);

          const retried = await get("flaky");
          assert.equal(retried.status, 200);
          assert.match(await retried.text(), new RegExp(vm.hostname));
          assert.equal(await sim.countCalls("resume", vm.hostname), 2);
        });
      },
    },
    {
      name: "request during a pause is served",
      async run() {
        const vm = await sim.createVm("apps", ["midpause"]);
        await withRelight(
          testConfig(sim.socketPath, { sites: [catchAllSite({ idleTimeoutMs: 30_000 })] }),
          async ({ get, relight, clock }) => {
            // The simulator delays the pause call by 300 ms, so the request
            // below arrives while the pause is under way even on a busy machine.
            await setLatency("pause", 300);
            await clock.advance(30_000);
            relight.watchIdle();
            const vmState = () =>
              relight.status().vms.find((entry) => entry.hostname === vm.hostname);
            assert.equal(vmState()?.state, "pausing");

            const response = await get("midpause");
            assert.equal(response.status, 200);
            await response.text();
            assert.equal(await sim.countCalls("pause", vm.hostname), 1);
            assert.equal(await sim.countCalls("resume", vm.hostname), 1);
            assert.equal(vmState()?.state, "running");
            assert.equal((await sim.getVm(vm.hostname)).status, "Running");
          },
        ).finally(() => setLatency("pause", 0));
      },
    },
    {
      name: "stopped VM is relaunched",
      async run() {
        const vm = await sim.createVm("apps", ["lazarus"], "Stopped");
        await withRelight(config(), async ({ get }) => {
          const response = await get("lazarus");
          assert.equal(response.status, 200);
          assert.match(await response.text(), new RegExp(vm.hostname));
          assert.equal(await sim.countCalls("relaunch", vm.hostname), 1);
        });
      },
    },
    {
      name: "failed relaunch gives 503",
      async run() {
        const vm = await sim.createVm("apps", ["tombstone"], "Stopped");
        await withRelight(config(), async ({ get }) => {
          // 404 means slicerd has no relaunch call; 409 and 503 are a busy VM
          // or daemon. Each leaves the VM stopped, so the client may retry.
          for (const status of [404, 409, 500, 503]) {
            await sim.failNext("relaunch", 1, status);
            const response = await get("tombstone");
            await response.text();
            assert.equal(response.status, 503, `relaunch ${status}`);
            assert.ok(response.headers.has("retry-after"), `Retry-After after relaunch ${status}`);
          }
          assert.equal(await sim.countCalls("relaunch", vm.hostname), 4, "relaunch calls");
          assert.equal((await sim.getVm(vm.hostname)).status, "Stopped");
        });
      },
    },
    {
      name: "hung status call keeps polling",
      async run() {
        const vm = await sim.createVm("apps", ["stalled"], "Paused");
        await withRelight(hungStatusConfig(5000), async ({ get }) => {
          await hangNodes(true);
          try {
            const pending = get("stalled");
            await waitFor(
              async () => (await sim.countCalls("resume", vm.hostname)) === 1,
              "the resume call",
            );
            // Long enough for at least two status calls to time out.
            await sleep(shortRequestTimeoutMs * 2.5);
            await hangNodes(false);

            const response = await pending;
            assert.equal(response.status, 200);
            assert.match(await response.text(), new RegExp(vm.hostname));
          } finally {
            await hangNodes(false);
          }
        });
      },
    },
    {
      name: "hung status calls end at wake_timeout",
      async run() {
        await sim.createVm("apps", ["frozen"], "Paused");
        const wakeTimeoutMs = 1500;
        await withRelight(hungStatusConfig(wakeTimeoutMs), async ({ get, relight }) => {
          await hangNodes(true);
          try {
            const started = performance.now();
            const response = await get("frozen");
            const elapsedMs = performance.now() - started;
            await response.text();

            assert.equal(response.status, 503);
            assert.ok(response.headers.has("retry-after"), "Retry-After missing");
            assert.ok(elapsedMs >= wakeTimeoutMs - 100, `503 after ${elapsedMs} ms`);
            assert.ok(elapsedMs < wakeTimeoutMs + 1000, `503 after ${elapsedMs} ms`);
            const vmState = () =>
              relight.status().vms.find((entry) => entry.tags.includes("frozen"))?.state;
            await waitFor(() => vmState() === "unknown", "the wake to end as unknown", 1000);
          } finally {
            await hangNodes(false);
          }
        });
      },
    },
    {
      name: "shutdown cancels a polling wake",
      async run() {
        await sim.createVm("apps", ["drowsy"], "Paused");
        await sim.setResumeDelay(5000);
        const running = await startTestRelight(config(10_000));
        let stopped = false;
        try {
          const started = performance.now();
          const pending = running.get("drowsy");
          await sleep(300);

          await running.relight.shutdown();
          stopped = true;
          const shutdownMs = performance.now() - started;
          const response = await pending;
          await response.text();

          assert.equal(response.status, 503);
          assert.ok(shutdownMs < 2000, `shutdown took ${Math.round(shutdownMs)} ms`);
        } finally {
          if (!stopped) await running.relight.shutdown();
          await sim.setResumeDelay(0);
        }
      },
    },
    {
      name: "client giving up keeps the wake",
      async run() {
        const vm = await sim.createVm("apps", ["impatient"], "Paused");
        await sim.setResumeDelay(400);
        try {
          await withRelight(config(), async ({ get, relight }) => {
            const controller = new AbortController();
            const abandoned = get("impatient", "/", { signal: controller.signal });
            setTimeout(() => controller.abort(), 100);
            await assert.rejects(abandoned);

            const vmState = () =>
              relight.status().vms.find((entry) => entry.hostname === vm.hostname);
            await waitFor(() => vmState()?.state === "running", "the wake to finish");
            assert.equal(vmState()?.inFlightRequests, 0);

            const response = await get("impatient");
            assert.equal(response.status, 200);
            await response.text();
            assert.equal(await sim.countCalls("resume", vm.hostname), 1);
          });
        } finally {
          await sim.setResumeDelay(0);
        }
      },
    },
  ],
};
