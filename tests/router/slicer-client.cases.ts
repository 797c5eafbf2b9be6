/**
 * The Slicer API client against a loopback server that returns chosen
 * responses: auth header, validation of `GET /nodes`, error bodies, timeouts
 * and an unreachable daemon.
 */
import assert from "node:assert/strict";
import type { SlicerConfig } from "../../src/config/types.ts";
import { configureLogging } from "../../src/logging/index.ts";
import { noopObserver } from "../../src/observe.ts";
import { type RunningServer, runtime } from "../../src/runtime/index.ts";
import { SlicerClient } from "../../src/slicer/client.ts";
import {
  SlicerProtocolError,
  SlicerStatusError,
  SlicerUnreachableError,
} from "../../src/slicer/errors.ts";
import { Fleet } from "../../src/vm/fleet.ts";
import type { CaseGroup } from "../support/cases.ts";
import { TestClock } from "../harness/clock.ts";
import { implicitSite } from "../harness/relight.ts";

const token = "slicer-token-9d2e41";

let server: RunningServer;
let respond: (request: Request) => Response | Promise<Response> = () => new Response(null);
/** Requests the server received, copied because Bun frees a Request after its response. */
const seen: { method: string; path: string; authorization: string | null }[] = [];

function client(
  overrides: Partial<SlicerConfig> = {},
  maxNodesResponseBytes?: number,
): SlicerClient {
  const config = { url: `http://127.0.0.1:${server.port}`, token, requestTimeoutMs: 500 };
  return new SlicerClient(
    { ...config, ...overrides },
    maxNodesResponseBytes === undefined ? {} : { maxNodesResponseBytes },
  );
}

/** Returns a streamed body of `size` bytes with no `Content-Length`. */
function streamedBody(size: number): ReadableStream<Uint8Array> {
  let remaining = size;
  return new ReadableStream({
    pull(controller) {
      if (remaining <= 0) {
        controller.close();
        return;
      }
      const length = Math.min(remaining, 1024);
      controller.enqueue(new Uint8Array(length).fill(0x20));
      remaining -= length;
    },
  });
}

function nodes(body: unknown): () => Response {
  return () => Response.json(body);
}

const goodNode = {
  hostname: "apps-1",
  hostgroup: "apps",
  ip: "192.168.137.2",
  ram_bytes: 536870912,
  cpus: 1,
  created_at: "2026-01-01T00:00:00Z",
  arch: "x86_64",
  tags: ["myapp"],
  status: "Running",
};

export const slicerClientCases: CaseGroup = {
  name: "slicer client",
  beforeAll() {
    server = runtime.serve({
      hostname: "127.0.0.1",
      port: 0,
      handler: (request) => {
        seen.push({
          method: request.method,
          path: new URL(request.url).pathname,
          authorization: request.headers.get("authorization"),
        });
        return respond(request);
      },
    });
  },
  async afterAll() {
    await server?.stop(true);
  },
  cases: [
    {
      name: "nodes are parsed and token sent",
      async run() {
        seen.length = 0;
        respond = nodes([goodNode, { ...goodNode, hostname: "apps-2", ip: "192.168.137.3/24" }]);
        const list = await client().listNodes();

        assert.equal(list.length, 2);
        assert.deepEqual(list[0], {
          hostname: "apps-1",
          hostGroup: "apps",
          ip: "192.168.137.2",
          tags: ["myapp"],
          status: "running",
          rawStatus: "Running",
        });
        assert.equal(list[1]?.ip, "192.168.137.3");
        assert.equal(seen[0]?.authorization, `Bearer ${token}`);
        assert.equal(seen[0]?.path, "/nodes");
      },
    },
    {
      name: "no token, no auth header",
      async run() {
        seen.length = 0;
        respond = nodes([]);
        await new SlicerClient({
          url: `http://127.0.0.1:${server.port}`,
          requestTimeoutMs: 500,
        }).listNodes();
        assert.equal(seen[0]?.authorization, null);
      },
    },
    {
      name: "statuses map, unknown stays unknown",
      async run() {
        const statuses = ["Running", "Paused", "Stopped", "Hibernating", ""];
        respond = nodes(
          statuses.map((status, i) => ({ ...goodNode, hostname: `apps-${i}`, status })),
        );
        const list = await client().listNodes();
        assert.deepEqual(
          list.map((node) => node.status),
          ["running", "paused", "stopped", "unknown", "unknown"],
        );
      },
    },
    {
      name: "malformed node lists are rejected",
      async run() {
        const bad: unknown[] = [
          { nodes: [] },
          [{ ...goodNode, hostname: 7 }],
          [{ ...goodNode, hostname: "" }],
          [{ ...goodNode, tags: "myapp" }],
          [{ hostgroup: "apps", ip: "192.168.137.2" }],
        ];
        for (const body of bad) {
          respond = nodes(body);
          await assert.rejects(client().listNodes(), SlicerProtocolError, JSON.stringify(body));
        }
        respond = () => new Response("<html>", { headers: { "content-type": "text/html" } });
        await assert.rejects(client().listNodes(), SlicerProtocolError);
        respond = () => new Response('[{"hostname": "apps-1", "hostgr');
        await assert.rejects(client().listNodes(), SlicerProtocolError, "truncated JSON");
      },
    },
    {
      name: "oversized node list is rejected",
      async run() {
        const limit = 4096;
        respond = () => new Response(`[${" ".repeat(limit)}]`);
        await assert.rejects(
          client({}, limit).listNodes(),
          (error: unknown) =>
            error instanceof SlicerProtocolError && /larger than 4096 bytes/.test(error.message),
          "body with Content-Length",
        );

        respond = () => new Response(streamedBody(limit + 1));
        await assert.rejects(
          client({}, limit).listNodes(),
          (error: unknown) =>
            error instanceof SlicerProtocolError && /larger than 4096 bytes/.test(error.message),
          "streamed body",
        );

        respond = () => new Response(`[${" ".repeat(limit - 2)}]`);
        assert.deepEqual(await client({}, limit).listNodes(), [], "body at the limit");
      },
    },
    {
      name: "unchanged listing returned as is",
      async run() {
        const slicer = client();
        respond = nodes([goodNode]);
        const first = await slicer.listNodes();
        const again = await slicer.listNodes();
        respond = nodes([{ ...goodNode, status: "Paused" }]);
        const changed = await slicer.listNodes();

        assert.equal(again, first, "same body, same array");
        assert.notEqual(changed, first, "new body, new array");
        assert.equal(changed[0]?.status, "paused");
        assert.equal(first[0]?.status, "running");
      },
    },
    {
      name: "unchanged listing keeps the index",
      async run() {
        const fleet = new Fleet({
          slicer: client(),
          clock: new TestClock(),
          observer: noopObserver,
          sites: [implicitSite()],
          watchIntervalMs: 30_000,
          refreshIntervalMs: 5000,
        });
        respond = nodes([goodNode]);
        await fleet.refresh();
        const generation = fleet.generation;
        const vm = fleet.get("apps-1")!;
        vm.markSuspect();
        assert.equal(vm.state, "unknown");

        await fleet.refresh();
        assert.equal(fleet.generation, generation, "unchanged listing");
        // The VM still takes the state that slicerd reports.
        assert.equal(vm.state, "running");

        respond = nodes([{ ...goodNode, tags: ["otherapp"] }]);
        await fleet.refresh();
        assert.notEqual(fleet.generation, generation, "changed listing");
        assert.deepEqual(fleet.get("apps-1")?.tags, ["otherapp"]);
      },
    },
    {
      name: "every refresh failure is logged",
      async run() {
        const lines: string[] = [];
        const logging = configureLogging(
          { level: "info", format: "json", access: false },
          { secrets: [token], write: (line) => lines.push(line), repeatIntervalMs: 0 },
        );
        const clock = new TestClock();
        const fleet = new Fleet({
          slicer: client(),
          clock,
          observer: noopObserver,
          sites: [implicitSite()],
          watchIntervalMs: 30_000,
          refreshIntervalMs: 5000,
        });
        try {
          respond = nodes([goodNode]);
          await fleet.refresh();
          const succeededAt = fleet.refreshedAt;
          assert.notEqual(succeededAt, null);

          const failures: (() => Response)[] = [
            () => new Response("<html>"),
            () => new Response('[{"hostname": "apps-1"'),
            nodes({ nodes: [] }),
            () => new Response("<html>"),
          ];
          for (const failure of failures) {
            respond = failure;
            await clock.advance(5000);
            await assert.rejects(fleet.refresh());
          }
          assert.equal(fleet.refreshedAt, succeededAt, "refreshedAt after failures");
        } finally {
          logging.close();
        }

        const warnings = lines
          .map((line) => JSON.parse(line) as Record<string, unknown>)
          .filter((record) => record["message"] === "index refresh failed");
        // The repeated HTML failure is counted by the logging layer, not written again.
        assert.equal(warnings.length, 3, lines.join("\n"));
        assert.match(String(warnings[0]?.["error"]), /body is not JSON/);
        assert.match(String(warnings[1]?.["error"]), /body is not JSON/);
        assert.notEqual(warnings[0]?.["error"], warnings[1]?.["error"], "HTML and truncated JSON");
        assert.match(String(warnings[2]?.["error"]), /invalid response/);
        assert.equal(warnings[2]?.["failures"], 3);
      },
    },
    {
      name: "error bodies are parsed",
      async run() {
        respond = () => Response.json({ error: "VM not found: apps-9" }, { status: 404 });
        const error = await client().resume("apps-9").catch((caught: unknown) => caught);
        assert.ok(error instanceof SlicerStatusError);
        assert.equal(error.status, 404);
        assert.equal(error.detail, "VM not found: apps-9");
        assert.equal(error.endpoint, "POST /vm/{hostname}/resume");
        assert.ok(!error.message.includes(token), "token in error message");
      },
    },
    {
      name: "vm actions use the right paths",
      async run() {
        seen.length = 0;
        respond = () => new Response("Pause initiated");
        await client().pause("apps-1");
        await client().resume("apps-1");
        await client().relaunch("apps-1");
        assert.deepEqual(
          seen.map((request) => `${request.method} ${request.path}`),
          ["POST /vm/apps-1/pause", "POST /vm/apps-1/resume", "POST /vm/apps-1/relaunch"],
        );
      },
    },
    {
      name: "slow daemon times out",
      async run() {
        respond = async () => {
          await new Promise((resolve) => setTimeout(resolve, 1500));
          return Response.json([]);
        };
        const started = performance.now();
        const error = await client({ requestTimeoutMs: 200 }).listNodes().catch((e: unknown) => e);
        const elapsedMs = performance.now() - started;

        assert.ok(error instanceof SlicerUnreachableError);
        assert.match(error.message, /timed out after 200 ms/);
        assert.ok(elapsedMs < 1000, `gave up after ${elapsedMs} ms`);
      },
    },
    {
      name: "unreachable daemon is reported",
      async run() {
        const error = await client({ url: "http://127.0.0.1:1" }).listNodes().catch((e: unknown) =>
          e
        );
        assert.ok(error instanceof SlicerUnreachableError);
        assert.ok(!error.message.includes(token), "token in error message");
      },
    },
  ],
};
