/**
 * `/healthz` of a real Relight whose slicerd responds to every call but sends
 * `/nodes` bodies that Relight cannot use, so the VM index goes stale.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { healthMaxSilenceMs } from "../../src/admin/service.ts";
import type { Config } from "../../src/config/index.ts";
import { testConfig, withRelight } from "../harness/relight.ts";
import type { CaseGroup } from "../support/cases.ts";

let directory = "";
let slicerd: Server | undefined;
let socketPath = "";
/** Body of every `/nodes` response: valid JSON for an empty host until a case changes it. */
let nodesBody = "[]";

function config(): Config {
  return testConfig(socketPath, {
    admin: { listen: { hostname: "127.0.0.1", port: 0 } },
    log: { level: "error", format: "text", access: false },
  });
}

async function health(port: number | undefined): Promise<{ status: number; reason: unknown }> {
  const response = await fetch(`http://127.0.0.1:${port}/healthz`);
  const body = await response.json() as Record<string, unknown>;
  return { status: response.status, reason: body["reason"] };
}

export const healthCases: CaseGroup = {
  name: "health",
  async beforeAll() {
    directory = await mkdtemp(join(tmpdir(), "relight-health-"));
    socketPath = join(directory, "slicerd.sock");
    // A stand-in for slicerd that returns 200 to every call.
    slicerd = createServer((_request, response) => {
      response.writeHead(200, { "content-type": "application/json" });
      response.end(nodesBody);
    });
    await new Promise<void>((resolve) => slicerd?.listen(socketPath, resolve));
  },
  async afterAll() {
    await new Promise((resolve) => slicerd?.close(resolve));
    await rm(directory, { recursive: true, force: true });
  },
  cases: [
    {
      name: "healthz 503 before a valid index",
      async run() {
        nodesBody = "<html>maintenance</html>";
        await withRelight(config(), async ({ relight }) => {
          const result = await health(relight.adminAddress?.port);

          assert.equal(relight.status().slicer.reachable, true);
          assert.equal(result.status, 503);
          assert.equal(result.reason, "the VM index has not been refreshed since start");
        }, { processMetrics: false });
      },
    },
    {
      name: "healthz 503 once the index is stale",
      async run() {
        nodesBody = "[]";
        const limitMs = healthMaxSilenceMs(config());
        await withRelight(config(), async ({ relight, clock }) => {
          assert.equal((await health(relight.adminAddress?.port)).status, 200);

          nodesBody = '[{"hostname": 42}]';
          await clock.advance(limitMs + 1000);
          const result = await health(relight.adminAddress?.port);

          assert.notEqual(relight.status().slicer.lastAnswerAt, relight.status().index.refreshedAt);
          assert.equal(result.status, 503);
          assert.equal(
            result.reason,
            `the VM index was last refreshed ${Math.round((limitMs + 1000) / 1000)}s ago`,
          );
        }, { processMetrics: false });
      },
    },
  ],
};
