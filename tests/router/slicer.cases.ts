/**
 * How the router keeps its index true to slicerd: outages, unknown hosts,
 * VMs that moved or were paused behind its back, and the ask server.
 */
import assert from "node:assert/strict";
import { createConnection } from "node:net";
import type { CaseGroup } from "../support/cases.ts";
import { catchAllSite, testConfig, waitFor, withRelight } from "../harness/relight.ts";
import { SimProcess } from "../harness/sim.ts";

let sim: SimProcess;

/** Sends a GET for `target` with `host` as its raw Host header and returns the response status. */
function rawStatus(port: number, host: string, target = "/"): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    let received = "";
    socket.on("error", reject);
    socket.on("data", (chunk: Buffer) => {
      received += chunk.toString("latin1");
      if (!received.includes("\r\n")) return;
      socket.destroy();
      resolve(Number(received.split(" ")[1]));
    });
    socket.write(`GET ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
  });
}

function config() {
  return testConfig(sim.socketPath, { sites: [catchAllSite({ wakeTimeoutMs: 5000 })] });
}

export const slicerCases: CaseGroup = {
  name: "router and slicerd",
  async beforeAll() {
    sim = await SimProcess.start({ groups: [{ name: "apps" }] });
  },
  async afterAll() {
    await sim?.stop();
  },
  cases: [
    {
      name: "slicerd down: running VMs still served",
      async run() {
        const vm = await sim.createVm("apps", ["steady"]);
        await withRelight(config(), async ({ get, relight }) => {
          await sim.setDown(true);
          try {
            const served = await get("steady");
            assert.equal(served.status, 200);
            assert.match(await served.text(), new RegExp(vm.hostname));

            const unknown = await get("newcomer");
            await unknown.text();
            assert.equal(unknown.status, 503);
            assert.ok(unknown.headers.has("retry-after"), "Retry-After missing");
            assert.equal(relight.status().slicer.reachable, false);
          } finally {
            await sim.setDown(false);
          }
        });
      },
    },
    {
      name: "paused VM with slicerd down gives 503",
      async run() {
        await sim.createVm("apps", ["stranded"], "Paused");
        await withRelight(config(), async ({ get }) => {
          await sim.setDown(true);
          try {
            const response = await get("stranded");
            await response.text();
            assert.equal(response.status, 503);
            assert.ok(response.headers.has("retry-after"), "Retry-After missing");
          } finally {
            await sim.setDown(false);
          }
        });
      },
    },
    {
      name: "new VM found by immediate refresh",
      async run() {
        await withRelight(config(), async ({ get }) => {
          const before = await get("latecomer");
          await before.text();
          assert.equal(before.status, 404);

          const vm = await sim.createVm("apps", ["latecomer"]);
          const after = await get("latecomer");
          assert.equal(after.status, 200);
          assert.match(await after.text(), new RegExp(vm.hostname));
        });
      },
    },
    {
      name: "unknown hosts cannot flood slicerd",
      async run() {
        await withRelight(
          config(),
          async ({ get, clock }) => {
            await sim.clearCalls();
            const hosts = Array.from({ length: 20 }, (_, i) => `random-${i}.example`);
            for (const host of hosts) {
              const response = await get(host);
              await response.text();
              assert.equal(response.status, 404);
            }
            assert.equal(await sim.countCalls("nodes"), 1);

            await clock.advance(1000);
            const again = await get("random-0.example");
            await again.text();
            assert.equal(await sim.countCalls("nodes"), 2);
          },
          { unknownHostRefreshIntervalMs: 1000 },
        );
      },
    },
    {
      name: "malformed Host gives 400, no slicerd call",
      async run() {
        await withRelight(config(), async ({ relight }) => {
          await sim.clearCalls();
          for (const host of ["", "bad host", "a..b", "[::1"]) {
            const status = await rawStatus(relight.address.port, host);
            assert.equal(status, 400, `status for Host ${JSON.stringify(host)}`);
          }
          assert.equal(await sim.countCalls("nodes"), 0);
        });
      },
    },
    {
      name: "known running VM costs no slicerd call",
      async run() {
        await sim.createVm("apps", ["quiet"]);
        await withRelight(config(), async ({ get }) => {
          await sim.clearCalls();
          for (let i = 0; i < 10; i++) {
            const response = await get("quiet");
            await response.text();
            assert.equal(response.status, 200);
          }
          assert.equal(await sim.countCalls("nodes"), 0);
          assert.equal(await sim.countCalls("resume"), 0);
        });
      },
    },
    {
      name: "slow apps share one stall refresh",
      async run() {
        const tags = ["sluggish-a", "sluggish-b", "sluggish-c"];
        for (const tag of tags) await sim.createVm("apps", [tag]);
        await withRelight(config(), async ({ get }) => {
          await sim.clearCalls();
          // Two waves of requests that each stall past the 1 s threshold.
          for (let wave = 0; wave < 2; wave++) {
            const responses = await Promise.all(tags.map((tag) => get(tag, "/slow?ms=1300")));
            for (const response of responses) {
              assert.equal(response.status, 200);
              await response.text();
            }
          }
          assert.equal(await sim.countCalls("nodes"), 1);
          assert.equal(await sim.countCalls("resume"), 0);
        });
      },
    },
    {
      name: "VM moved to a new IP is found",
      async run() {
        const vm = await sim.createVm("apps", ["nomad"]);
        await withRelight(config(), async ({ get, relight }) => {
          const first = await get("nomad");
          await first.text();
          assert.equal(first.status, 200);

          const newIp = await sim.moveVm(vm.hostname);
          assert.notEqual(newIp, vm.ip);

          const moved = await get("nomad");
          assert.equal(moved.status, 200);
          assert.match(await moved.text(), new RegExp(vm.hostname));
          const entry = relight.status().vms.find((item) => item.hostname === vm.hostname);
          assert.equal(entry?.ip, newIp);
        });
      },
    },
    {
      name: "VM paused behind our back is woken",
      async run() {
        const vm = await sim.createVm("apps", ["ambushed"]);
        await withRelight(config(), async ({ get }) => {
          const first = await get("ambushed");
          await first.text();

          await sim.pauseVm(vm.hostname);
          const response = await get("ambushed", "/", { signal: AbortSignal.timeout(4000) });
          assert.equal(response.status, 200);
          assert.match(await response.text(), new RegExp(vm.hostname));
          assert.equal(await sim.countCalls("resume", vm.hostname), 1);
        });
      },
    },
    {
      name: "refresh learns of an outside pause",
      async run() {
        const vm = await sim.createVm("apps", ["observed"]);
        await withRelight(config(), async ({ relight, clock }) => {
          const entry = () => relight.status().vms.find((item) => item.hostname === vm.hostname);
          assert.equal(entry()?.state, "running");

          await sim.pauseVm(vm.hostname);
          await clock.advance(5000);
          await waitFor(() => entry()?.state === "paused", "the refresh to see the pause");
        });
      },
    },
    {
      name: "vanished VM gives 404",
      async run() {
        const vm = await sim.createVm("apps", ["ghost"]);
        await withRelight(config(), async ({ get, relight }) => {
          await sim.deleteVm(vm.hostname);
          await relight.refresh();
          const response = await get("ghost");
          await response.text();
          assert.equal(response.status, 404);
        });
      },
    },
    {
      name: "ask server answers",
      async run() {
        await sim.createVm("apps", ["asked"]);
        await sim.createVm("apps", ["asleep"], "Paused");
        const withAsk = testConfig(sim.socketPath, {
          sites: [
            {
              ...catchAllSite(),
              pattern: "*.apps.example.com",
              match: { kind: "wildcard", suffix: "apps.example.com" },
            },
          ],
          ask: { listen: { hostname: "127.0.0.1", port: 0 } },
        });
        await withRelight(withAsk, async ({ relight }) => {
          const askUrl = `http://127.0.0.1:${relight.askAddress?.port}/`;
          const ask = async (query: string) => {
            const response = await fetch(`${askUrl}${query}`);
            await response.text();
            return response.status;
          };

          assert.equal(await ask("?domain=asked.apps.example.com"), 200);
          assert.equal(await ask("?domain=ASLEEP.apps.example.com"), 200);
          assert.equal(await ask("?domain=asked.attacker.example"), 404);
          assert.equal(await ask("?domain=missing.apps.example.com"), 404);
          assert.equal(await ask(""), 400);
          assert.equal(await ask("?domain=bad..name"), 400);

          // The ask protocol sends a bare hostname, so any other authority
          // part is invalid, even around a name that routes.
          const authorityForms = [
            "asked.apps.example.com:99",
            "asked.apps.example.com:",
            "user@asked.apps.example.com",
            "asked.apps.example.com/path",
            "http://asked.apps.example.com",
            "[::1]",
          ];
          for (const domain of authorityForms) {
            assert.equal(await ask(`?domain=${encodeURIComponent(domain)}`), 400, domain);
          }

          // The ask server reads only its query, whatever Host the caller sends.
          const askPort = relight.askAddress?.port ?? 0;
          const query = "/?domain=asked.apps.example.com";
          assert.equal(await rawStatus(askPort, "my app", query), 200, "Host with a space");
          assert.equal(await rawStatus(askPort, "[::1", query), 200, "unclosed IPv6 literal");
        });
      },
    },
  ],
};
