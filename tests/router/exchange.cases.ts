/**
 * What the access log records for an exchange that the client cut short:
 * the status that was sent and the client's address, read when the request
 * arrived. Also the 504 for an app that sends no response head in time.
 */
import assert from "node:assert/strict";
import { createConnection } from "node:net";
import type { CaseGroup } from "../support/cases.ts";
import { catchAllSite, testConfig, waitFor, withRelight } from "../harness/relight.ts";
import { SimProcess } from "../harness/sim.ts";

let sim: SimProcess;

type AccessRecord = Record<string, unknown>;

function accessRecords(lines: string[], path: string): AccessRecord[] {
  return lines
    .map((line) => JSON.parse(line) as AccessRecord)
    .filter((record) => record["logger"] === "relight.access" && record["path"] === path);
}

/**
 * Sends `head` over a plain socket and destroys the socket once the response
 * head and `minBodyBytes` body bytes have arrived. Returns the status line.
 */
function requestThenDisconnect(port: number, head: string, minBodyBytes: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    let received = "";
    socket.setEncoding("latin1");
    socket.on("connect", () => socket.write(head));
    socket.on("data", (chunk: string) => {
      received += chunk;
      const headEnd = received.indexOf("\r\n\r\n");
      if (headEnd === -1 || received.length - headEnd - 4 < minBodyBytes) return;
      socket.destroy();
      resolve(received.split("\r\n", 1)[0] ?? "");
    });
    socket.on("error", reject);
    socket.on("close", () => reject(new Error(`closed early after: ${JSON.stringify(received)}`)));
  });
}

export const exchangeCases: CaseGroup = {
  name: "router exchange end",
  async beforeAll() {
    sim = await SimProcess.start({ groups: [{ name: "apps", vms: [{ tags: ["stream"] }] }] });
  },
  async afterAll() {
    await sim?.stop();
  },
  cases: [
    {
      name: "disconnect mid-stream logs 200",
      async run() {
        const lines: string[] = [];
        const config = testConfig(sim.socketPath, {
          sites: [catchAllSite()],
          log: { level: "error", format: "json", access: true },
        });
        await withRelight(config, async ({ relight }) => {
          const statusLine = await requestThenDisconnect(
            relight.address.port,
            "GET /sse?interval=20 HTTP/1.1\r\nHost: stream\r\n\r\n",
            1,
          );
          assert.equal(statusLine, "HTTP/1.1 200 OK");

          await waitFor(() => accessRecords(lines, "/sse").length > 0, "the access line");
          const [record] = accessRecords(lines, "/sse");
          assert.equal(record?.["status"], 200);
          assert.equal(record?.["remote_address"], "127.0.0.1");
          assert.equal(record?.["truncated"], true);
        }, {
          processMetrics: false,
          logging: { write: (line) => lines.push(line), repeatIntervalMs: 0 },
        });
      },
    },
    {
      name: "complete stream is not truncated",
      async run() {
        const lines: string[] = [];
        const config = testConfig(sim.socketPath, {
          sites: [catchAllSite()],
          log: { level: "error", format: "json", access: true },
        });
        await withRelight(config, async ({ get }) => {
          const response = await get("stream", "/bytes?n=2000000");
          const body = await response.arrayBuffer();
          assert.equal(body.byteLength, 2_000_000);

          await waitFor(() => accessRecords(lines, "/bytes").length > 0, "the access line");
          const [record] = accessRecords(lines, "/bytes");
          assert.equal(record?.["status"], 200);
          assert.equal(record?.["bytes"], 2_000_000);
          assert.equal(record?.["truncated"], undefined);
        }, {
          processMetrics: false,
          logging: { write: (line) => lines.push(line), repeatIntervalMs: 0 },
        });
      },
    },
    {
      name: "response timeout gives 504 and follows reload",
      async run() {
        const lines: string[] = [];
        const config = testConfig(sim.socketPath, {
          sites: [catchAllSite()],
          responseTimeoutMs: 1000,
          log: { level: "warning", format: "json", access: true },
        });
        await withRelight(config, async ({ get, relight }) => {
          const started = performance.now();
          const response = await get("stream", "/slow?ms=4000");
          const elapsedMs = performance.now() - started;

          assert.equal(response.status, 504);
          assert.equal(await response.text(), "Gateway Timeout\n");
          assert.ok(elapsedMs >= 1000, `answered after ${Math.round(elapsedMs)} ms`);
          await waitFor(() => accessRecords(lines, "/slow").length > 0, "the access line");
          assert.equal(accessRecords(lines, "/slow")[0]?.["status"], 504);
          const warning = lines
            .map((line) => JSON.parse(line) as AccessRecord)
            .find((record) => record["message"] === "upstream response timed out");
          assert.equal(warning?.["timeout_ms"], 1000);

          // 1.5 s is past the old timeout, so only the reloaded one lets it through.
          await relight.reload({ ...config, responseTimeoutMs: 5 * 60_000 });
          const later = await get("stream", "/slow?ms=1500");
          assert.equal(later.status, 200);
        }, {
          processMetrics: false,
          logging: { write: (line) => lines.push(line), repeatIntervalMs: 0 },
        });
      },
    },
  ],
};
