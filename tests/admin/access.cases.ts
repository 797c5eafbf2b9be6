/**
 * The access log of a real Relight against the simulator: one line per
 * exchange, written when the exchange is over, with the body bytes counted.
 */
import assert from "node:assert/strict";
import { createConnection } from "node:net";
import type { Config } from "../../src/config/index.ts";
import { IMPLICIT_SITE_PATTERN } from "../../src/config/parse.ts";
import {
  closed,
  implicitSite,
  openWebSocket,
  testConfig,
  type TestRelight,
  waitFor,
  wildcardSite,
  withRelight,
} from "../harness/relight.ts";
import { SimProcess } from "../harness/sim.ts";
import type { CaseGroup } from "../support/cases.ts";

let sim: SimProcess;

type AccessRecord = Record<string, unknown>;

function config(): Config {
  return testConfig(sim.socketPath, {
    sites: [wildcardSite("apps.test")],
    log: { level: "error", format: "json", access: true },
  });
}

function accessRecords(lines: string[], path: string): AccessRecord[] {
  return lines
    .map((line) => JSON.parse(line) as AccessRecord)
    .filter((record) => record["logger"] === "relight.access" && record["path"] === path);
}

/** Starts Relight with the access log on, capturing every line into `lines`. */
function withAccessLog(body: (running: TestRelight, lines: string[]) => Promise<void>) {
  const lines: string[] = [];
  return withRelight(config(), (running) => body(running, lines), {
    processMetrics: false,
    logging: { write: (line) => lines.push(line), repeatIntervalMs: 0 },
  });
}

async function onlyRecord(lines: string[], path: string): Promise<AccessRecord> {
  await waitFor(() => accessRecords(lines, path).length > 0, `an access line for ${path}`);
  const records = accessRecords(lines, path);
  assert.equal(records.length, 1, `access lines for ${path}: ${records.length}`);
  return records[0] ?? {};
}

/**
 * Sends `head` as the request head over a plain socket, with the bytes taken
 * as latin1 so a test can send any octet, and returns the response's status.
 */
function rawStatus(port: number, head: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    let text = "";
    socket.setEncoding("latin1");
    socket.on("data", (chunk: string) => {
      text += chunk;
    });
    socket.on("error", reject);
    socket.on("close", () => resolve(Number(text.split(" ")[1])));
    socket.write(`${head}\r\nconnection: close\r\n\r\n`, "latin1");
  });
}

export const accessCases: CaseGroup = {
  name: "access log",
  async beforeAll() {
    sim = await SimProcess.start({ groups: [{ name: "apps" }] });
  },
  async afterAll() {
    await sim?.stop();
  },
  cases: [
    {
      name: "stream logged at its end",
      async run() {
        await sim.createVm("apps", ["stream"]);
        await withAccessLog(async (running, lines) => {
          const response = await running.get("stream.apps.test", "/sse?interval=150&count=3");
          assert.equal(response.status, 200);
          assert.equal(accessRecords(lines, "/sse").length, 0, "logged at response headers");

          const text = await response.text();
          const record = await onlyRecord(lines, "/sse");

          assert.equal(record["status"], 200);
          assert.equal(record["bytes"], new TextEncoder().encode(text).byteLength);
          assert.ok(Number(record["duration_ms"]) >= 250, `duration_ms ${record["duration_ms"]}`);
        });
      },
    },
    {
      name: "chunked body bytes counted",
      async run() {
        await sim.createVm("apps", ["chunked"]);
        await withAccessLog(async (running, lines) => {
          const response = await running.get("chunked.apps.test", "/bytes?n=300000");
          const body = await response.arrayBuffer();
          const record = await onlyRecord(lines, "/bytes");

          assert.equal(body.byteLength, 300_000);
          assert.equal(record["bytes"], 300_000);
        });
      },
    },
    {
      name: "fixed-length body bytes counted",
      async run() {
        await sim.createVm("apps", ["fixed"]);
        await withAccessLog(async (running, lines) => {
          const response = await running.get("fixed.apps.test", "/");
          const text = await response.text();
          const record = await onlyRecord(lines, "/");

          assert.equal(record["status"], 200);
          assert.equal(record["host"], "fixed.apps.test");
          assert.equal(record["bytes"], new TextEncoder().encode(text).byteLength);
        });
      },
    },
    {
      name: "HEAD logs zero bytes",
      async run() {
        await sim.createVm("apps", ["head"]);
        await withAccessLog(async (running, lines) => {
          const response = await running.get("head.apps.test", "/", { method: "HEAD" });
          await response.body?.cancel();
          const record = await onlyRecord(lines, "/");

          assert.equal(record["method"], "HEAD");
          assert.equal(record["bytes"], 0);
        });
      },
    },
    {
      name: "unmatched host logged as 404",
      async run() {
        await withAccessLog(async (running, lines) => {
          const response = await running.get("shop.elsewhere.test", "/missing?q=1");
          const text = await response.text();
          const record = await onlyRecord(lines, "/missing");

          assert.equal(response.status, 404);
          assert.equal(record["status"], 404);
          assert.equal(record["host"], "shop.elsewhere.test");
          assert.equal(record["bytes"], new TextEncoder().encode(text).byteLength);
        });
      },
    },
    {
      name: "malformed Host logged as 400",
      async run() {
        const heads = [
          "GET /bad HTTP/1.1\r\nhost: ",
          "GET /bad HTTP/1.1\r\nhost: my app",
          "GET /bad HTTP/1.1\r\nhost: m\u00ffapp",
          "GET /bad HTTP/1.1\r\nhost: myapp:abc",
          "GET /bad HTTP/1.1\r\nhost: [::1",
          "GET /bad HTTP/1.1\r\nhost: victim@myapp",
          "GET /bad HTTP/1.1\r\nhost: myapp/../victim",
          "GET /bad HTTP/1.0",
        ];
        await withAccessLog(async (running, lines) => {
          for (const head of heads) {
            const status = await rawStatus(running.relight.address.port, head);
            assert.equal(status, 400, JSON.stringify(head));
          }
          await waitFor(
            () => accessRecords(lines, "/bad").length === heads.length,
            `${heads.length} access lines for /bad`,
          );
          const statuses = accessRecords(lines, "/bad").map((record) => record["status"]);

          assert.deepEqual(statuses, heads.map(() => 400));
        });
      },
    },
    {
      name: "unknown host is no label",
      async run() {
        await withAccessLog(async (running) => {
          for (const host of ["ghost.apps.test", "shop.elsewhere.test"]) {
            const response = await running.get(host, "/");
            await response.body?.cancel();
            assert.equal(response.status, 404, host);
          }
          const text = await running.relight.metrics.render();

          assert.ok(text.includes('app="*.apps.test",status_class="4xx"'), "site pattern label");
          assert.ok(!text.includes("ghost"), "unknown host in a metric label");
          assert.ok(!text.includes("elsewhere"), "unmatched host in a metric label");
        });
      },
    },
    {
      name: "implicit site labels unknown hosts",
      async run() {
        // The site that the config loader makes when `sites` is omitted.
        const site = { ...implicitSite(), pattern: IMPLICIT_SITE_PATTERN };
        await withRelight({ ...config(), sites: [site] }, async (running) => {
          const response = await running.get("nothing.elsewhere.test", "/");
          await response.body?.cancel();
          const text = await running.relight.metrics.render();

          assert.equal(response.status, 404);
          assert.ok(text.includes('app="(implicit)",status_class="4xx"'), "implicit site label");
          assert.ok(!text.includes("elsewhere"), "unknown host in a metric label");
        }, { processMetrics: false });
      },
    },
    {
      name: "WebSocket logged at close",
      async run() {
        await sim.createVm("apps", ["socket"]);
        await withAccessLog(async (running, lines) => {
          const socket = await openWebSocket(running.baseUrl, "socket.apps.test", "/ws");
          await new Promise((resolve) => setTimeout(resolve, 200));
          assert.equal(accessRecords(lines, "/ws").length, 0, "logged while the socket is open");

          const socketClosed = closed(socket);
          socket.close(1000, "done");
          await socketClosed;
          const record = await onlyRecord(lines, "/ws");

          assert.equal(record["status"], 101);
          assert.equal(record["bytes"], null);
          assert.ok(Number(record["duration_ms"]) >= 200, `duration_ms ${record["duration_ms"]}`);
        });
      },
    },
  ],
};
