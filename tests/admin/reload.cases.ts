/**
 * Reloads that move listeners: a bind failure on any listener rejects the
 * whole reload, and every old listener keeps serving.
 */
import assert from "node:assert/strict";
import type { Config } from "../../src/config/index.ts";
import { startRelight } from "../../src/relight.ts";
import { type RunningServer, runtime } from "../../src/runtime/index.ts";
import { catchAllSite, testConfig } from "../harness/relight.ts";
import { SimProcess } from "../harness/sim.ts";
import type { CaseGroup } from "../support/cases.ts";

let sim: SimProcess;
/** A loopback listener bound to an ephemeral port, so binding that port again fails. */
let blocker: RunningServer;

const hostFetch = runtime.createFetch({});
const ephemeral = { hostname: "127.0.0.1", port: 0 };

function config(): Config {
  return testConfig(sim.socketPath, {
    sites: [catchAllSite()],
    ask: { listen: ephemeral },
    admin: { listen: ephemeral },
  });
}

function blockedPort() {
  return { hostname: blocker.hostname, port: blocker.port };
}

async function routerStatus(port: number, host: string): Promise<number> {
  const response = await hostFetch(`http://127.0.0.1:${port}/`, { headers: { host } });
  await response.body?.cancel();
  return response.status;
}

export const reloadCases: CaseGroup = {
  name: "reload listeners",
  async beforeAll() {
    sim = await SimProcess.start({ groups: [{ name: "apps" }] });
    blocker = runtime.serve({
      hostname: "127.0.0.1",
      port: 0,
      handler: () => new Response("blocker"),
    });
  },
  async afterAll() {
    await blocker?.stop(true);
    await sim?.stop();
  },
  cases: [
    {
      name: "failed ask bind keeps listeners",
      async run() {
        await sim.createVm("apps", ["steady"]);
        const first = config();
        const relight = await startRelight(first, { processMetrics: false });
        try {
          const router = relight.address;
          const ask = relight.askAddress;
          const next = {
            ...first,
            listen: { hostname: "127.0.0.2", port: 0 },
            ask: { listen: blockedPort() },
          };

          await assert.rejects(relight.reload(next));

          assert.deepEqual(relight.address, router);
          assert.deepEqual(relight.askAddress, ask);
          assert.equal(await routerStatus(router.port, "steady"), 200);
        } finally {
          await relight.shutdown();
        }
      },
    },
    {
      name: "failed admin bind keeps listeners",
      async run() {
        await sim.createVm("apps", ["anchored"]);
        const first = config();
        const relight = await startRelight(first, { processMetrics: false });
        try {
          const router = relight.address;
          const admin = relight.adminAddress;
          const next = {
            ...first,
            listen: { hostname: "127.0.0.2", port: 0 },
            admin: { listen: blockedPort() },
          };

          await assert.rejects(relight.reload(next));

          assert.deepEqual(relight.address, router);
          assert.deepEqual(relight.adminAddress, admin);
          assert.equal(await routerStatus(router.port, "anchored"), 200);
          const health = await fetch(`http://127.0.0.1:${admin?.port}/healthz`);
          await health.body?.cancel();
          assert.equal(health.status, 200);
        } finally {
          await relight.shutdown();
        }
      },
    },
    {
      name: "reload after failure moves listeners",
      async run() {
        await sim.createVm("apps", ["mover"]);
        const first = config();
        const relight = await startRelight(first, { processMetrics: false });
        try {
          const oldPort = relight.address.port;
          await assert.rejects(relight.reload({ ...first, ask: { listen: blockedPort() } }));

          await relight.reload({ ...first, listen: { hostname: "127.0.0.2", port: 0 } });

          assert.equal(relight.address.hostname, "127.0.0.2");
          assert.notEqual(relight.address.port, oldPort);
          const moved = await hostFetch(`http://127.0.0.2:${relight.address.port}/`, {
            headers: { host: "mover" },
          });
          await moved.body?.cancel();
          assert.equal(moved.status, 200);
        } finally {
          await relight.shutdown();
        }
      },
    },
  ],
};
