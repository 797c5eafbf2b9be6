import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { formatStatus } from "../../src/cli/status.ts";
import { main } from "../../src/cli/main.ts";
import { type RunningServer, runtime } from "../../src/runtime/index.ts";
import type { StatusReport } from "../../src/status.ts";
import { CapturedOutput, TempDir } from "./support.ts";

const NOW = Date.parse("2026-01-01T12:00:00Z");

const report: StatusReport = {
  slicer: { reachable: true, lastAnswerAt: "2026-01-01T11:59:58Z" },
  index: { refreshedAt: "2026-01-01T11:59:57Z", ageMs: 3_000 },
  vms: [
    {
      hostname: "app-1",
      hostGroup: "apps",
      tags: ["hello", "hello.example.com"],
      ip: "192.168.137.2",
      state: "running",
      lastActivity: "2026-01-01T11:58:55Z",
      inFlightRequests: 2,
      openWebSockets: 1,
      idleTimeoutMs: 300_000,
    },
    {
      hostname: "app-22",
      hostGroup: "apps",
      tags: [],
      ip: "192.168.137.3",
      state: "paused",
      lastActivity: null,
      inFlightRequests: 0,
      openWebSockets: 0,
      idleTimeoutMs: null,
    },
  ],
};

/** Requests the fake admin server received, as `METHOD /path authorization`. */
const received: string[] = [];
let reloadResponse: Response = Response.json({ status: "reloaded" });
let server: RunningServer;
const dir = new TempDir();

beforeAll(() => {
  server = runtime.serve({
    hostname: "127.0.0.1",
    port: 0,
    handler: (request) => {
      const url = new URL(request.url);
      received.push(`${request.method} ${url.pathname} ${request.headers.get("authorization")}`);
      if (request.headers.get("authorization") === "Bearer wrong") {
        return Response.json({ error: "missing or invalid bearer token" }, { status: 401 });
      }
      if (request.method === "GET" && url.pathname === "/status") return Response.json(report);
      if (request.method === "POST" && url.pathname === "/reload") return reloadResponse.clone();
      return Response.json({ error: "not found" }, { status: 404 });
    },
  });
});

afterAll(async () => {
  await server.stop(true);
  dir.remove();
});

afterEach(() => {
  received.length = 0;
});

function configFor(admin: string): string {
  return dir.write(
    `admin-${received.length}-${Math.random()}.yaml`,
    `slicer:\n  url: /s.sock\n${admin}`,
  );
}

async function run(args: string[]): Promise<{ code: number; output: CapturedOutput }> {
  const output = new CapturedOutput();
  const code = await main(args, output, {});
  return { code, output };
}

describe("formatStatus", () => {
  test("table with header lines", () => {
    expect(formatStatus(report, NOW).split("\n")).toEqual([
      "slicerd: reachable (last response 2s ago)",
      "index:   refreshed 3s ago, 2 VMs",
      "",
      "HOSTNAME  STATE    TAGS                     IP             LAST ACTIVITY  IN-FLIGHT  WEBSOCKETS",
      "app-1     running  hello,hello.example.com  192.168.137.2  1m5s ago       2          1",
      "app-22    paused   -                        192.168.137.3  never          0          0",
    ]);
  });

  test("before first refresh", () => {
    const empty: StatusReport = {
      slicer: { reachable: false, lastAnswerAt: null },
      index: { refreshedAt: null, ageMs: null },
      vms: [],
    };
    expect(formatStatus(empty, NOW)).toBe(
      "slicerd: unreachable (no response yet)\nindex:   not refreshed yet, 0 VMs",
    );
  });
});

describe("relight status", () => {
  test("prints the table", async () => {
    const path = configFor(`admin:\n  listen: 127.0.0.1:${server.port}\n`);
    const { code, output } = await run(["status", "--config", path]);

    expect(code).toBe(0);
    expect(output.stdout[0]).toStartWith("slicerd: reachable");
    expect(output.stdout[0]).toContain("HOSTNAME  STATE");
    expect(received).toEqual(["GET /status null"]);
  });

  test("prints JSON", async () => {
    const path = configFor(`admin:\n  listen: 127.0.0.1:${server.port}\n`);
    const { code, output } = await run(["status", "--json", "--config", path]);

    expect(code).toBe(0);
    expect(JSON.parse(output.stdout.join("\n"))).toEqual(report);
  });

  test("sends the admin token", async () => {
    const path = configFor(`admin:\n  listen: 127.0.0.1:${server.port}\n  token: s3cret\n`);
    const { code } = await run(["status", "--config", path]);

    expect(code).toBe(0);
    expect(received).toEqual(["GET /status Bearer s3cret"]);
  });

  test("rejected token exits 1", async () => {
    const path = configFor(`admin:\n  listen: 127.0.0.1:${server.port}\n  token: wrong\n`);
    const { code, output } = await run(["status", "--config", path]);

    expect(code).toBe(1);
    expect(output.stderr).toEqual([
      `relight status: the admin server at http://127.0.0.1:${server.port}/status rejected the request with 401 (check admin.token in ${path})`,
    ]);
  });

  test("admin not configured exits 1", async () => {
    const path = configFor("");
    const { code, output } = await run(["status", "--config", path]);

    expect(code).toBe(1);
    expect(output.stderr).toEqual([
      `relight status: admin is not configured in ${path} (add admin.listen, e.g. 127.0.0.1:9090, and restart Relight)`,
    ]);
    expect(received).toEqual([]);
  });

  test("unreachable admin exits 1", async () => {
    const closed = runtime.serve({
      hostname: "127.0.0.1",
      port: 0,
      handler: () => new Response("unused"),
    });
    const port = closed.port;
    await closed.stop(true);

    const path = configFor(`admin:\n  listen: 127.0.0.1:${port}\n`);
    const { code, output } = await run(["status", "--config", path]);

    expect(code).toBe(1);
    expect(output.stderr).toEqual([
      `relight status: could not reach the admin server at http://127.0.0.1:${port}/status (connection refused). Is Relight running with ${path}?`,
    ]);
  });

  test("invalid config exits 2", async () => {
    const path = configFor("admin:\n  listen: nowhere\n");
    const { code, output } = await run(["status", "--config", path]);

    expect(code).toBe(2);
    expect(output.stderr[0]).toStartWith(`${path}:4:11: admin.listen: "nowhere" is not`);
  });
});

describe("relight reload", () => {
  test("success", async () => {
    reloadResponse = Response.json({ status: "reloaded" });
    const path = configFor(`admin:\n  listen: 127.0.0.1:${server.port}\n`);
    const { code, output } = await run(["reload", "--config", path]);

    expect(code).toBe(0);
    expect(output.stdout).toEqual(["relight reload: config reloaded"]);
    expect(received).toEqual(["POST /reload null"]);
  });

  test("rejected config lists errors", async () => {
    reloadResponse = Response.json(
      { status: "rejected", errors: ["relight.yaml:3:9: listen: 1 is not a listen address"] },
      { status: 422 },
    );
    const path = configFor(`admin:\n  listen: 127.0.0.1:${server.port}\n`);
    const { code, output } = await run(["reload", "--config", path]);

    expect(code).toBe(1);
    expect(output.stderr).toEqual([
      "relight reload: relight.yaml:3:9: listen: 1 is not a listen address",
      "relight reload: rejected, so the running config stays in effect",
    ]);
  });

  test("error body from a failed reload", async () => {
    reloadResponse = Response.json({ error: "internal error" }, { status: 500 });
    const path = configFor(`admin:\n  listen: 127.0.0.1:${server.port}\n`);
    const { code, output } = await run(["reload", "--config", path]);

    expect(code).toBe(1);
    expect(output.stderr[0]).toBe("relight reload: internal error");
  });
});
