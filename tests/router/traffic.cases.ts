/**
 * Traffic through the whole router (site match, VM index, proxy) to the
 * simulator's demo app: large bodies, server-sent events, header rules and
 * WebSockets.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { runtime } from "../../src/runtime/index.ts";
import type { CaseGroup } from "../support/cases.ts";
import {
  catchAllSite,
  closed,
  nextMessage,
  openWebSocket,
  startTestRelight,
  testConfig,
  type TestRelight,
} from "../harness/relight.ts";
import { SimProcess } from "../harness/sim.ts";

let sim: SimProcess;
let router: TestRelight;

const bodySize = 100 * 1024 * 1024;
/**
 * Maximum RSS growth accepted while 100 MB pass through, in bytes. Holding
 * the body once would add 100 MB. The client runs in its own process, so this
 * process contains only Relight and the test runner. On Bun the upstream
 * client frees each chunk once it is sent: growth measured 0 to 8 MB, and 5
 * to 36 MB when chunks waited for the garbage collector. Deno's fetch leaves
 * them to the collector, and with both cores busy 50 MB transfers grew RSS by
 * up to 40 MB there.
 */
const maxRssGrowth = (runtime.name === "bun" ? 20 : 60) * 1024 * 1024;

const bulkClient = fileURLToPath(new URL("../harness/bulk-client.mjs", import.meta.url));

/**
 * Uploads or downloads `size` bytes through the router from a Node.js child
 * process, and returns the status and the response body's length.
 */
function bulkTransfer(
  mode: "upload" | "download",
  path: string,
  size: number,
): Promise<{ status: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn("node", [bulkClient, mode, `${router.baseUrl}${path}`, "demo", `${size}`], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    let errors = "";
    child.stdout.on("data", (chunk: Uint8Array) => {
      output += new TextDecoder().decode(chunk);
    });
    child.stderr.on("data", (chunk: Uint8Array) => {
      errors += new TextDecoder().decode(chunk);
    });
    child.once("error", reject);
    child.once("exit", (code) => {
      if (code !== 0) reject(new Error(`bulk client exited with ${code}: ${errors}`));
      else resolve(JSON.parse(output));
    });
  });
}

/** Runs `body` while sampling RSS every 20 ms and returns the peak growth in bytes. */
async function peakRssGrowth(body: () => Promise<void>): Promise<number> {
  const baseline = process.memoryUsage().rss;
  let peak = baseline;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 20);
  try {
    await body();
  } finally {
    clearInterval(sampler);
  }
  return Math.max(peak, process.memoryUsage().rss) - baseline;
}

export const trafficCases: CaseGroup = {
  name: "router traffic",
  async beforeAll() {
    sim = await SimProcess.start({
      groups: [{ name: "apps", vms: [{ tags: ["demo"] }] }],
    });
    router = await startTestRelight(testConfig(sim.socketPath, { sites: [catchAllSite()] }));
  },
  async afterAll() {
    await router?.relight.shutdown();
    await sim?.stop();
  },
  cases: [
    {
      name: "100 MB upload with flat memory",
      timeoutMs: 30_000,
      async run() {
        // A first, smaller upload lets the runtime grow its buffer pools, so
        // the measurement shows only what the 100 MB transfer holds.
        await bulkTransfer("upload", "/echo", 8 * 1024 * 1024);

        let echoed = 0;
        let status = 0;
        const growth = await peakRssGrowth(async () => {
          const result = await bulkTransfer("upload", "/echo", bodySize);
          status = result.status;
          echoed = result.bytes;
        });

        assert.equal(status, 200);
        assert.equal(echoed, bodySize);
        // NOTE: on Deno 2.9.6 a `Deno.serve` handler that passes the request
        // body to `fetch` grows RSS with the upload even without Relight's
        // code in between (+73 to 89 MB in this case on a 2-core machine).
        // The limit is therefore checked on Bun only.
        if (runtime.name === "deno") return;
        assert.ok(growth < maxRssGrowth, `RSS grew by ${Math.round(growth / 1048576)} MB`);
      },
    },
    {
      name: "100 MB download with flat memory",
      timeoutMs: 30_000,
      async run() {
        let received = 0;
        let status = 0;
        const growth = await peakRssGrowth(async () => {
          const result = await bulkTransfer("download", `/bytes?n=${bodySize}`, 0);
          status = result.status;
          received = result.bytes;
        });

        assert.equal(status, 200);
        assert.equal(received, bodySize);
        assert.ok(growth < maxRssGrowth, `RSS grew by ${Math.round(growth / 1048576)} MB`);
      },
    },
    {
      name: "SSE events arrive as sent",
      async run() {
        const started = performance.now();
        const response = await router.get("demo", "/sse?interval=200&count=3");
        assert.equal(response.status, 200);
        assert.match(response.headers.get("content-type") ?? "", /text\/event-stream/);

        const decoder = new TextDecoder();
        const arrivals: { atMs: number; text: string }[] = [];
        const reader = response.body!.getReader();
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          arrivals.push({ atMs: performance.now() - started, text: decoder.decode(value) });
        }

        const events = arrivals.map((arrival) => arrival.text).join("").trim().split("\n\n");
        assert.equal(events.length, 3);
        assert.match(events[0] ?? "", /^id: 1\ndata: \{"n":1/);
        assert.match(events[2] ?? "", /^id: 3\n/);
        const first = arrivals[0];
        const last = arrivals.at(-1);
        assert.ok(first !== undefined, "no chunks arrived");
        assert.ok(last !== undefined, "no last chunk");
        assert.ok(first.atMs < 300, `first event after ${first.atMs} ms`);
        assert.ok(last.atMs >= 350, `last event after ${last.atMs} ms, not streamed`);
      },
    },
    {
      name: "hop-by-hop headers are removed",
      async run() {
        const response = await router.get("demo", "/headers", {
          headers: {
            connection: "keep-alive, x-secret-hop",
            "x-secret-hop": "1",
            "keep-alive": "timeout=5",
            upgrade: "h2c",
            "x-forwarded-for": "203.0.113.9",
            "x-kept": "yes",
          },
        });
        const seen = (await response.json()) as Record<string, string>;

        assert.equal(response.status, 200);
        assert.equal(seen["x-secret-hop"], undefined);
        assert.equal(seen["keep-alive"], undefined);
        assert.equal(seen.upgrade, undefined);
        assert.equal(seen["x-kept"], "yes");
        assert.equal(seen.host, "demo");
        assert.equal(seen["x-forwarded-for"], "127.0.0.1");
        assert.equal(seen["x-forwarded-host"], "demo");
        assert.equal(seen["x-forwarded-proto"], "http");
        assert.ok(seen.via, "Via missing");
      },
    },
    {
      name: "cookies, redirects and HEAD pass through",
      async run() {
        const cookies = await router.get("demo", "/cookies");
        await cookies.text();
        assert.deepEqual(cookies.headers.getSetCookie(), [
          "first=1; Path=/",
          "second=2; Path=/; HttpOnly",
        ]);

        const redirect = await router.get("demo", "/redirect", { redirect: "manual" });
        await redirect.text();
        assert.equal(redirect.status, 302);
        assert.equal(redirect.headers.get("location"), "/");

        const head = await router.get("demo", "/bytes?n=1000", { method: "HEAD" });
        assert.equal(head.status, 200);
        assert.equal(await head.text(), "");
      },
    },
    {
      name: "fixed-length GET and HEAD keep Content-Length",
      async run() {
        const size = 1024 * 1024;
        const get = await router.get("demo", `/file?n=${size}`);
        assert.equal(get.status, 200);
        assert.equal(get.headers.get("content-length"), String(size));
        assert.equal(get.headers.get("transfer-encoding"), null);
        assert.equal((await get.arrayBuffer()).byteLength, size);

        const head = await router.get("demo", `/file?n=${size}`, { method: "HEAD" });
        assert.equal(head.status, 200);
        assert.equal(head.headers.get("content-length"), String(size));
        assert.equal(await head.text(), "");
      },
    },
    {
      name: "WebSocket echo, subprotocol, close code",
      async run() {
        const socket = await openWebSocket(router.baseUrl, "demo", "/ws", ["chat.v2", "chat.v1"]);
        assert.equal(socket.protocol, "chat.v2");

        const text = nextMessage(socket);
        socket.send("hello");
        assert.equal(await text, "hello");

        const binary = nextMessage(socket);
        socket.send(new Uint8Array([1, 2, 3, 250]));
        const echoed = await binary;
        assert.ok(echoed instanceof ArrayBuffer, "binary frame came back as text");
        assert.deepEqual([...new Uint8Array(echoed)], [1, 2, 3, 250]);

        const done = closed(socket);
        socket.send("/close 4001 done here");
        assert.deepEqual(await done, { code: 4001, reason: "done here" });
      },
    },
  ],
};
