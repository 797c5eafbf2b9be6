/** The admin listener across config reloads. */
import assert from "node:assert/strict";
import { RelightMetrics } from "../../src/admin/metrics.ts";
import { AdminService, healthMaxSilenceMs } from "../../src/admin/service.ts";
import { type Config, defaultConfig } from "../../src/config/index.ts";
import type { CaseGroup } from "../support/cases.ts";
import { RecordingRouter } from "./fixtures.ts";

const services: AdminService[] = [];

function configWith(admin: Config["admin"]): Config {
  const base = defaultConfig("http://127.0.0.1:9");
  const { admin: _omitted, ...rest } = base;
  return admin === undefined ? rest : { ...rest, admin };
}

function start(config: Config): AdminService {
  const router = new RecordingRouter();
  const metrics = new RelightMetrics(() => router.status(), { processMetrics: false });
  const service = new AdminService(router, metrics, config);
  services.push(service);
  return service;
}

async function statusCode(url: string, token?: string): Promise<number> {
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  const response = await fetch(url, { headers });
  await response.body?.cancel();
  return response.status;
}

export const serviceCases: CaseGroup = {
  name: "admin service",
  async afterAll() {
    await Promise.all(services.map((service) => service.stop()));
  },
  cases: [
    {
      name: "health threshold from config",
      run() {
        const config = defaultConfig("http://127.0.0.1:9");
        assert.equal(healthMaxSilenceMs(config), 3 * 5000 + 10_000);
      },
    },
    {
      name: "no admin section, no listener",
      run() {
        const service = start(configWith(undefined));
        assert.equal(service.address, undefined);
      },
    },
    {
      name: "token change applies in place",
      async run() {
        const service = start(configWith({ listen: { hostname: "127.0.0.1", port: 0 } }));
        const first = service.address;
        assert.ok(first);
        const url = `http://127.0.0.1:${first.port}/status`;
        assert.equal(await statusCode(url), 200);

        service.apply(
          configWith({ listen: { hostname: "127.0.0.1", port: 0 }, token: "new-token-1" }),
        );
        assert.deepEqual(service.address, first);
        assert.equal(await statusCode(url), 401);
        assert.equal(await statusCode(url, "new-token-1"), 200);
      },
    },
    {
      name: "changed listen is re-bound",
      async run() {
        const service = start(configWith({ listen: { hostname: "127.0.0.1", port: 0 } }));
        const oldPort = service.address?.port;
        service.apply(configWith({ listen: { hostname: "127.0.0.2", port: 0 } }));
        const moved = service.address;

        assert.equal(moved?.hostname, "127.0.0.2");
        assert.equal(await statusCode(`http://127.0.0.2:${moved?.port}/healthz`), 200);
        await new Promise((resolve) => setTimeout(resolve, 50));
        await assert.rejects(fetch(`http://127.0.0.1:${oldPort}/healthz`));
      },
    },
    {
      name: "removed admin stops listener",
      async run() {
        const service = start(configWith({ listen: { hostname: "127.0.0.1", port: 0 } }));
        const port = service.address?.port;
        service.apply(configWith(undefined));

        assert.equal(service.address, undefined);
        await new Promise((resolve) => setTimeout(resolve, 50));
        await assert.rejects(fetch(`http://127.0.0.1:${port}/healthz`));
      },
    },
  ],
};
