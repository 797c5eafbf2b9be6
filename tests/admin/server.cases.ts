/** The admin API over a real socket: auth, health, status, wake, pause, reload, metrics. */
import assert from "node:assert/strict";
import { isAuthorized } from "../../src/admin/auth.ts";
import { RelightMetrics } from "../../src/admin/metrics.ts";
import { type AdminOptions, startAdminServer } from "../../src/admin/server.ts";
import { type RunningServer, runtime } from "../../src/runtime/index.ts";
import type { StatusReport } from "../../src/status.ts";
import type { CaseGroup } from "../support/cases.ts";
import { RecordingRouter, vmStatus } from "./fixtures.ts";
import { sampleValue } from "./metrics.cases.ts";

const token = "admin-token-5f1c2a9e7b";

interface Running {
  router: RecordingRouter;
  base: string;
  server: RunningServer;
  metrics: RelightMetrics;
}

const servers: RunningServer[] = [];

function start(options: Partial<AdminOptions> = {}): Running {
  const router = new RecordingRouter();
  router.report.vms = [vmStatus("blog-1"), vmStatus("shop-1", { inFlightRequests: 2 })];
  const metrics = new RelightMetrics(() => router.status(), { processMetrics: false });
  const server = startAdminServer(
    { hostname: "127.0.0.1", port: 0 },
    { router, metrics, healthMaxSilenceMs: 30_000, ...options },
  );
  servers.push(server);
  return { router, base: `http://127.0.0.1:${server.port}`, server, metrics };
}

// Requests that set Host go through the adapter's fetch, because Deno's
// global fetch drops a caller-set Host header.
const hostFetch = runtime.createFetch({});

/** Sends `method` to `path` on `base` with the given headers and returns the status and JSON body. */
async function send(
  base: string,
  method: string,
  path: string,
  headers: Record<string, string>,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await hostFetch(`${base}${path}`, { method, headers });
  return { status: response.status, body: await response.json() as Record<string, unknown> };
}

function bearer(value: string): RequestInit {
  return { headers: { authorization: `Bearer ${value}` } };
}

export const serverCases: CaseGroup = {
  name: "admin server",
  async afterAll() {
    await Promise.all(servers.map((server) => server.stop(true)));
  },
  cases: [
    {
      name: "token compare",
      run() {
        assert.equal(isAuthorized(`Bearer ${token}`, token), true);
        assert.equal(isAuthorized(`bearer ${token}`, token), true);
        assert.equal(isAuthorized(`Bearer ${token}x`, token), false);
        assert.equal(isAuthorized(`Bearer ${token.slice(1)}`, token), false);
        assert.equal(isAuthorized(`Basic ${token}`, token), false);
        assert.equal(isAuthorized(token, token), false);
        assert.equal(isAuthorized(undefined, token), false);
        assert.equal(isAuthorized("Bearer ", ""), false);
      },
    },
    {
      name: "auth required with token",
      async run() {
        const { base } = start({ token });
        for (const path of ["/status", "/metrics"]) {
          const missing = await fetch(`${base}${path}`);
          assert.equal(missing.status, 401, `${path} without token`);
          assert.match(missing.headers.get("www-authenticate") ?? "", /^Bearer/);
          await missing.body?.cancel();

          const wrong = await fetch(`${base}${path}`, bearer("wrong-token"));
          assert.equal(wrong.status, 401, `${path} with a wrong token`);
          await wrong.body?.cancel();

          const right = await fetch(`${base}${path}`, bearer(token));
          assert.equal(right.status, 200, `${path} with the token`);
          await right.body?.cancel();
        }
      },
    },
    {
      name: "auth covers control routes",
      async run() {
        const { base, router } = start({ token });
        for (const path of ["/vms/blog-1/wake", "/vms/blog-1/pause", "/reload"]) {
          const response = await fetch(`${base}${path}`, { method: "POST" });
          assert.equal(response.status, 401, path);
          await response.body?.cancel();
        }
        assert.deepEqual(router.calls, []);
      },
    },
    {
      name: "healthz open without token",
      async run() {
        const { base } = start({ token });
        const response = await fetch(`${base}/healthz`);
        assert.equal(response.status, 200);
        assert.deepEqual(await response.json(), { status: "ok" });
      },
    },
    {
      name: "healthz 503 when slicerd silent",
      async run() {
        const now = Date.parse("2026-01-01T00:10:00Z");
        const { base, router } = start({ now: () => now });
        router.report.slicer.lastAnswerAt = "2026-01-01T00:09:00Z";
        const stale = await fetch(`${base}/healthz`);
        assert.equal(stale.status, 503);
        assert.deepEqual(await stale.json(), {
          status: "unavailable",
          reason: "slicerd has not answered for 60s",
        });

        router.report.slicer.lastAnswerAt = "2026-01-01T00:09:45Z";
        const fresh = await fetch(`${base}/healthz`);
        assert.equal(fresh.status, 200);
        await fresh.body?.cancel();

        router.report.slicer.lastAnswerAt = null;
        const never = await fetch(`${base}/healthz`);
        assert.equal(never.status, 503);
        assert.match(((await never.json()) as { reason: string }).reason, /since start/);
      },
    },
    {
      name: "healthz 503 when not serving",
      async run() {
        const { base, router } = start();
        router.isServing = false;
        const response = await fetch(`${base}/healthz`);
        assert.equal(response.status, 503);
        assert.equal(
          ((await response.json()) as { reason: string }).reason,
          "relight is not serving",
        );
      },
    },
    {
      name: "status returns report",
      async run() {
        const { base, router } = start();
        const response = await fetch(`${base}/status`);
        const body = (await response.json()) as StatusReport;

        assert.equal(response.status, 200);
        assert.deepEqual(body, router.report);
        assert.equal(body.vms[1]?.hostname, "shop-1");
        assert.equal(body.vms[1]?.inFlightRequests, 2);
      },
    },
    {
      name: "wake known and unknown VM",
      async run() {
        const { base, router } = start();
        router.report.vms[0]!.state = "paused";
        const woke = await fetch(`${base}/vms/blog-1/wake`, { method: "POST" });
        assert.equal(woke.status, 200);
        assert.deepEqual(await woke.json(), { hostname: "blog-1", state: "running" });

        const missing = await fetch(`${base}/vms/nope-9/wake`, { method: "POST" });
        assert.equal(missing.status, 404);
        assert.match(((await missing.json()) as { error: string }).error, /nope-9/);

        const get = await fetch(`${base}/vms/blog-1/wake`);
        assert.equal(get.status, 405);
        await get.body?.cancel();
        assert.deepEqual(router.calls, ["wake blog-1", "wake nope-9"]);
      },
    },
    {
      name: "pause busy VM needs force",
      async run() {
        const { base, router } = start();
        const busy = await fetch(`${base}/vms/shop-1/pause`, { method: "POST" });
        assert.equal(busy.status, 409);
        const body = (await busy.json()) as { error: string; inFlightRequests: number };
        assert.equal(body.inFlightRequests, 2);
        assert.match(body.error, /force=1/);

        const forced = await fetch(`${base}/vms/shop-1/pause?force=1`, { method: "POST" });
        assert.equal(forced.status, 200);
        assert.deepEqual(await forced.json(), { hostname: "shop-1", state: "paused" });

        const idle = await fetch(`${base}/vms/blog-1/pause`, { method: "POST" });
        assert.equal(idle.status, 200);
        await idle.body?.cancel();

        const invalid = await fetch(`${base}/vms/blog-1/pause?force=yes`, { method: "POST" });
        assert.equal(invalid.status, 400);
        await invalid.body?.cancel();

        assert.deepEqual(router.calls, [
          "pause shop-1 force=false",
          "pause shop-1 force=true",
          "pause blog-1 force=false",
        ]);
      },
    },
    {
      name: "control failure is 502",
      async run() {
        const { base, router } = start();
        router.wake = () => Promise.resolve({ outcome: "failed", error: "resume failed: 500" });
        const response = await fetch(`${base}/vms/blog-1/wake`, { method: "POST" });
        assert.equal(response.status, 502);
        assert.deepEqual(await response.json(), { error: "resume failed: 500" });
      },
    },
    {
      name: "reload valid and invalid",
      async run() {
        const { base, router } = start();
        const ok = await fetch(`${base}/reload`, { method: "POST" });
        assert.equal(ok.status, 200);
        assert.deepEqual(await ok.json(), { status: "reloaded" });

        router.reloadResult = { ok: false, errors: ["relight.yaml:3:1: listen: invalid address"] };
        const rejected = await fetch(`${base}/reload`, { method: "POST" });
        assert.equal(rejected.status, 422);
        assert.deepEqual(await rejected.json(), {
          status: "rejected",
          errors: ["relight.yaml:3:1: listen: invalid address"],
        });
      },
    },
    {
      name: "wrong method gets 405 with Allow",
      async run() {
        const { base, router } = start();
        const cases: Array<[method: string, path: string, allow: string]> = [
          ["GET", "/reload", "POST"],
          ["PUT", "/reload", "POST"],
          ["GET", "/vms/blog-1/wake", "POST"],
          ["DELETE", "/vms/blog-1/pause", "POST"],
          ["POST", "/status", "GET, HEAD"],
          ["POST", "/metrics", "GET, HEAD"],
          ["POST", "/healthz", "GET, HEAD"],
        ];
        for (const [method, path, allow] of cases) {
          const { status, body } = await send(base, method, path, {});
          assert.equal(status, 405, `${method} ${path}`);
          assert.match(String(body["error"]), /method not allowed/, `${method} ${path}`);

          const response = await fetch(`${base}${path}`, { method });
          await response.body?.cancel();
          assert.equal(response.headers.get("allow"), allow, `${method} ${path}`);
        }
        assert.deepEqual(router.calls, [], "router calls");

        const unknown = await fetch(`${base}/nothing`);
        await unknown.body?.cancel();
        assert.equal(unknown.status, 404, "unknown path");
      },
    },
    {
      name: "metrics served as text",
      async run() {
        const { base, metrics } = start();
        metrics.wakeFinished("blog-1", "ok", 500);
        const response = await fetch(`${base}/metrics`);
        const text = await response.text();

        assert.equal(response.status, 200);
        assert.match(response.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
        assert.equal(sampleValue(text, 'relight_wakes_total{app="blog-1",result="ok"}'), 1);
        assert.equal(sampleValue(text, 'relight_in_flight_requests{app="shop-1"}'), 2);
      },
    },
    {
      name: "rebound Host rejected without token",
      async run() {
        const { base, router } = start();
        const rebound = { host: "rebind.evil.example:9090" };

        const status = await send(base, "GET", "/status", rebound);
        const pause = await send(base, "POST", "/vms/blog-1/pause", rebound);
        const health = await send(base, "GET", "/healthz", rebound);

        assert.equal(status.status, 403);
        assert.match(String(status.body["error"]), /rebind\.evil\.example/);
        assert.equal(pause.status, 403);
        assert.equal(health.status, 403);
        assert.deepEqual(router.calls, []);
      },
    },
    {
      name: "loopback Hosts allowed without token",
      async run() {
        const { base, server } = start();
        const hosts = [
          `127.0.0.1:${server.port}`,
          "127.0.0.1",
          "127.1.2.3:80",
          "localhost:9090",
          "LOCALHOST",
          "[::1]:9090",
        ];
        for (const host of hosts) {
          const response = await send(base, "GET", "/status", { host });
          assert.equal(response.status, 200, host);
        }
      },
    },
    {
      name: "malformed or lookalike Hosts rejected",
      async run() {
        const { base } = start();
        const hosts = [
          "localhost.evil.example",
          "127.0.0.1.nip.io",
          "[::2]",
          "0.0.0.0:9090",
          "victim@127.0.0.1",
          "127.0.0.1/x",
        ];
        for (const host of hosts) {
          const response = await send(base, "GET", "/status", { host });
          assert.equal(response.status, 403, host);
        }
      },
    },
    {
      name: "any Host allowed with token",
      async run() {
        const { base } = start({ token });
        const response = await send(base, "GET", "/status", {
          host: "admin.example.com",
          authorization: `Bearer ${token}`,
        });
        assert.equal(response.status, 200);
      },
    },
    {
      name: "cross-origin POST rejected",
      async run() {
        const { base, router, server } = start({ token });
        const host = `127.0.0.1:${server.port}`;
        const authorization = `Bearer ${token}`;
        const rejected: Record<string, string>[] = [
          { origin: "http://evil.example" },
          { origin: `http://localhost:${server.port}` },
          { origin: `https://${host}` },
          { origin: "null" },
          { "sec-fetch-site": "cross-site" },
          { "sec-fetch-site": "same-site" },
        ];
        for (const headers of rejected) {
          const response = await send(base, "POST", "/vms/blog-1/wake", {
            host,
            authorization,
            ...headers,
          });
          assert.equal(response.status, 403, JSON.stringify(headers));
        }
        assert.deepEqual(router.calls, []);

        const sameOrigin = await send(base, "POST", "/vms/blog-1/wake", {
          host,
          authorization,
          origin: `http://${host}`,
          "sec-fetch-site": "same-origin",
        });
        assert.equal(sameOrigin.status, 200);
        assert.deepEqual(router.calls, ["wake blog-1"]);
      },
    },
    {
      name: "cross-origin GET still served",
      async run() {
        const { base, server } = start();
        const response = await send(base, "GET", "/status", {
          host: `127.0.0.1:${server.port}`,
          origin: "http://evil.example",
          "sec-fetch-site": "cross-site",
        });
        assert.equal(response.status, 200);
      },
    },
    {
      name: "handler error is 500",
      async run() {
        const { base, router } = start();
        router.status = () => {
          throw new Error("status broke");
        };
        const response = await fetch(`${base}/status`);
        assert.equal(response.status, 500);
        assert.deepEqual(await response.json(), { error: "internal error" });
      },
    },
  ],
};
