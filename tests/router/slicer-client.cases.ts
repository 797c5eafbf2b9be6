/**
 * The Slicer API client against a loopback server that returns chosen
 * responses: auth header, validation of `GET /nodes`, error bodies, timeouts
 * and an unreachable daemon.
 */
import assert from "node:assert/strict";
import type { SlicerConfig } from "../../src/config/types.ts";
import { type RunningServer, runtime } from "../../src/runtime/index.ts";
import { SlicerClient } from "../../src/slicer/client.ts";
import {
  SlicerProtocolError,
  SlicerStatusError,
  SlicerUnreachableError,
} from "../../src/slicer/errors.ts";
import type { CaseGroup } from "../support/cases.ts";

const token = "slicer-token-9d2e41";

let server: RunningServer;
let respond: (request: Request) => Response | Promise<Response> = () => new Response(null);
/** Requests the server received, copied because Bun frees a Request after its response. */
const seen: { method: string; path: string; authorization: string | null }[] = [];

function client(overrides: Partial<SlicerConfig> = {}): SlicerClient {
  return new SlicerClient({
    url: `http://127.0.0.1:${server.port}`,
    token,
    requestTimeoutMs: 500,
    ...overrides,
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
