/** Per-VM override tags and config reloads, through the router. */
import assert from "node:assert/strict";
import { runtime } from "../../src/runtime/index.ts";
import type { CaseGroup } from "../support/cases.ts";
import { catchAllSite, testConfig, wildcardSite, withRelight } from "../harness/relight.ts";
import { SimProcess } from "../harness/sim.ts";

let sim: SimProcess;

export const configCases: CaseGroup = {
  name: "router overrides and reload",
  async beforeAll() {
    sim = await SimProcess.start({
      groups: [
        { name: "apps", vms: [{ tags: ["plain"] }] },
        {
          name: "alt",
          app_port: 9090,
          vms: [
            { tags: ["porty", "relight.app_port=9090"] },
            { tags: ["misport", "relight.app_port=http"] },
          ],
        },
      ],
    });
  },
  async afterAll() {
    await sim?.stop();
  },
  cases: [
    {
      name: "app_port tag overrides the site",
      async run() {
        const config = testConfig(sim.socketPath, {
          sites: [catchAllSite({ hostGroup: "alt", appPort: 8080, wakeTimeoutMs: 1000 })],
        });
        await withRelight(config, async ({ get, relight }) => {
          const response = await get("porty");
          assert.equal(response.status, 200);
          assert.match(await response.text(), /tags: porty/);

          const entry = relight.status().vms.find((item) => item.tags.includes("porty"));
          assert.equal(entry?.state, "running");
        });
      },
    },
    {
      name: "invalid app_port tag is ignored",
      async run() {
        const config = testConfig(sim.socketPath, {
          sites: [catchAllSite({ hostGroup: "alt", appPort: 9090 })],
        });
        await withRelight(config, async ({ get }) => {
          const response = await get("misport");
          assert.equal(response.status, 200);
          assert.match(await response.text(), /tags: misport/);
        });
      },
    },
    {
      name: "VM under two sites uses the first",
      async run() {
        // Both sites route "plain" in the same host group, but only the
        // first names the port its app listens on.
        const config = testConfig(sim.socketPath, {
          sites: [
            wildcardSite("apps.example.com", { appPort: 8080, idleTimeoutMs: 60_000 }),
            catchAllSite({ appPort: 1, idleTimeoutMs: 120_000, wakeTimeoutMs: 1000 }),
          ],
        });
        await withRelight(config, async ({ get, relight }) => {
          for (const host of ["plain", "plain.apps.example.com", "plain"]) {
            const response = await get(host);
            assert.equal(response.status, 200, `status through ${host}`);
            assert.match(await response.text(), /tags: plain/);
          }

          const entry = relight.status().vms.find((item) => item.tags.includes("plain"));
          assert.equal(entry?.idleTimeoutMs, 60_000);
        });
      },
    },
    {
      name: "reload replaces the sites",
      async run() {
        const before = testConfig(sim.socketPath, { sites: [catchAllSite()] });
        await withRelight(before, async ({ get, relight }) => {
          const exact = await get("plain");
          await exact.text();
          assert.equal(exact.status, 200);

          await relight.reload({ ...before, sites: [wildcardSite("apps.example.com")] });

          const noLongerMatched = await get("plain");
          await noLongerMatched.text();
          assert.equal(noLongerMatched.status, 404);
          const wildcard = await get("plain.apps.example.com");
          assert.equal(wildcard.status, 200);
          assert.match(await wildcard.text(), /tags: plain/);
        });
      },
    },
    {
      name: "reload moves the listener",
      async run() {
        const before = testConfig(sim.socketPath, { sites: [catchAllSite()] });
        await withRelight(before, async ({ relight }) => {
          const oldPort = relight.address.port;
          await relight.reload({ ...before, listen: { hostname: "127.0.0.1", port: 0 } });
          // Port 0 always binds anew, so the address changes only if the
          // reload compared the configured addresses; both are port 0 here.
          assert.equal(relight.address.port, oldPort);

          await relight.reload({ ...before, listen: { hostname: "127.0.0.2", port: 0 } });
          assert.equal(relight.address.hostname, "127.0.0.2");
          const response = await runtime.createFetch({})(
            `http://127.0.0.2:${relight.address.port}/`,
            {
              headers: { host: "plain" },
            },
          );
          assert.equal(response.status, 200);
          await response.text();
        });
      },
    },
  ],
};
