/** WebSocket relaying, checked on what the upstream received and what the client got. */
import assert from "node:assert/strict";
import { createConnection } from "node:net";
import { UpstreamConnectError } from "../../src/proxy/index.ts";
import { sendableCloseCode } from "../../src/proxy/relay.ts";
import { runtime, type ServerSocket } from "../../src/runtime/index.ts";
import type { CaseGroup } from "../support/cases.ts";
import {
  blackholedPort,
  type Cleanup,
  closedPort,
  headerValues,
  loopback,
  rawRequest,
  settle,
  startProxy,
  startRawUpstream,
  startUpstream,
  waitFor,
  withCleanup,
} from "./harness.ts";

/**
 * Close code the upstream sees when the client goes away. The WHATWG
 * WebSocket `close()` accepts only 1000 and 3000-4999, and Deno 2.9.6's client
 * enforces that, so its adapter sends 1000 where Bun's client sends 1001.
 */
const goingAwayCode = runtime.name === "deno" ? 1000 : 1001;

interface UpstreamRecord {
  headers: Headers[];
  closes: { code: number; reason: string }[];
}

/**
 * Starts an upstream that accepts the `chat.v1` subprotocol, echoes every
 * message, closes with 4002 on the text "close-me" and sends "early-1" to
 * "early-3" as soon as a connection opens.
 */
function startEchoUpstream(cleanup: Cleanup) {
  const record: UpstreamRecord = { headers: [], closes: [] };
  const upstream = startUpstream(cleanup, (request, context) => {
    // Deno forbids reading a request after its upgrade, so the handshake is
    // copied before `context.upgrade`.
    record.headers.push(new Headers(request.headers));
    const sendsEarly = request.url.endsWith("/early");
    const offered = request.headers.get("sec-websocket-protocol") ?? "";
    const accepted = offered.split(",").map((item) => item.trim()).includes("chat.v1");
    const response = context.upgrade({
      ...(accepted ? { protocol: "chat.v1" } : {}),
      handlers: {
        open(socket: ServerSocket) {
          if (sendsEarly) {
            for (const text of ["early-1", "early-2", "early-3"]) socket.send(text);
          }
        },
        message(socket: ServerSocket, data: string | Uint8Array) {
          if (data === "close-me") {
            socket.close(4002, "server bye");
            return;
          }
          socket.send(data);
        },
        close(_socket: ServerSocket, code: number, reason: string) {
          record.closes.push({ code, reason });
        },
        drain() {},
      },
    });
    return response ?? new Response("upgrade expected\n", { status: 400 });
  });
  return { upstream, record };
}

interface ClientEvents {
  messages: (string | Uint8Array)[];
  closes: { code: number; reason: string }[];
}

/** Opens a client WebSocket through the proxy and records what it receives. */
async function connectClient(port: number, path: string, protocols: string[]) {
  const events: ClientEvents = { messages: [], closes: [] };
  const socket = runtime.connectWebSocket(`ws://${loopback}:${port}${path}`, {
    protocols,
    headers: [["host", "chat.example"]],
  });
  socket.binaryType = "arraybuffer";
  socket.addEventListener("message", (event) => {
    const data = event.data as string | ArrayBuffer;
    events.messages.push(typeof data === "string" ? data : new Uint8Array(data));
  });
  socket.addEventListener("close", (event) => {
    events.closes.push({ code: event.code, reason: event.reason });
  });

  await new Promise<void>((resolve, reject) => {
    socket.addEventListener("open", () => resolve(), { once: true });
    socket.addEventListener("error", () => reject(new Error("client websocket failed")), {
      once: true,
    });
  });
  return { socket, events };
}

/** Raw handshake lines for a WebSocket upgrade that the server closes after its response. */
function upgradeRequestLines(path: string): string[] {
  return [
    `GET ${path} HTTP/1.1`,
    "Host: chat.example",
    "Connection: close, Upgrade",
    "Upgrade: websocket",
    "Sec-WebSocket-Version: 13",
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
  ];
}

/** Sends a raw upgrade request and returns the response head, then drops the connection. */
function readHandshakeResponse(port: number, lines: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: loopback, port });
    let received = "";
    socket.on("error", reject);
    socket.on("data", (chunk: Buffer) => {
      received += chunk.toString("latin1");
      const end = received.indexOf("\r\n\r\n");
      if (end === -1) return;
      socket.destroy();
      resolve(received.slice(0, end));
    });
    socket.write(`${lines.join("\r\n")}\r\n\r\n`);
  });
}

export const webSocketCases: CaseGroup = {
  name: "proxy websocket",
  cases: [
    {
      name: "echo with subprotocol and binary frames",
      run: withCleanup(async (cleanup) => {
        const { upstream, record } = startEchoUpstream(cleanup);
        const proxy = startProxy(cleanup, upstream);

        const { socket, events } = await connectClient(proxy.port, "/chat?room=1", [
          "chat.v2",
          "chat.v1",
        ]);
        assert.equal(socket.protocol, "chat.v1");

        const binary = new Uint8Array([0, 1, 2, 253, 254, 255]);
        socket.send("hello");
        socket.send(binary);
        await waitFor("two echoed messages", () => events.messages.length === 2);

        assert.equal(events.messages[0], "hello");
        assert.deepEqual(events.messages[1], binary);
        const headers = record.headers[0];
        assert.ok(headers, "upstream received no handshake");
        assert.equal(headers.get("host"), "chat.example");
        assert.equal(headers.get("sec-websocket-protocol"), "chat.v2, chat.v1");
        assert.equal(headers.get("x-forwarded-for"), "127.0.0.1");
        assert.equal(headers.get("via"), "1.1 relight");

        socket.close(1000, "done");
        await waitFor("onEnd after both sides closed", () => proxy.ends.length > 0);
        await settle();
        assert.deepEqual(proxy.ends, [101]);
      }),
    },
    {
      name: "client hop negotiates no extensions",
      run: withCleanup(async (cleanup) => {
        const { upstream, record } = startEchoUpstream(cleanup);
        const proxy = startProxy(cleanup, upstream);

        const offer = "permessage-deflate; server_no_context_takeover; client_max_window_bits=10";
        const head = await readHandshakeResponse(proxy.port, [
          ...upgradeRequestLines("/chat"),
          `Sec-WebSocket-Extensions: ${offer}`,
        ]);

        assert.match(head, /^HTTP\/1\.1 101 /);
        assert.doesNotMatch(head, /sec-websocket-extensions/i);
        // The upstream hop negotiates on its own: the client's offer is not
        // passed on, because the relay cannot speak what the client agreed.
        assert.notEqual(record.headers[0]?.get("sec-websocket-extensions"), offer);
      }),
    },
    {
      name: "client close code and reason reach upstream",
      run: withCleanup(async (cleanup) => {
        const { upstream, record } = startEchoUpstream(cleanup);
        const proxy = startProxy(cleanup, upstream);
        const { socket } = await connectClient(proxy.port, "/", []);

        socket.close(4001, "client bye");

        await waitFor("the upstream to see the close", () => record.closes.length > 0);
        assert.deepEqual(record.closes, [{ code: 4001, reason: "client bye" }]);
        await waitFor("onEnd after both sides closed", () => proxy.ends.length > 0);
        await settle();
        assert.deepEqual(proxy.ends, [101]);
      }),
    },
    {
      name: "upstream close code and reason reach client",
      run: withCleanup(async (cleanup) => {
        const { upstream } = startEchoUpstream(cleanup);
        const proxy = startProxy(cleanup, upstream);
        const { socket, events } = await connectClient(proxy.port, "/", []);

        socket.send("close-me");

        await waitFor("the client to see the close", () => events.closes.length > 0);
        assert.deepEqual(events.closes, [{ code: 4002, reason: "server bye" }]);
        await waitFor("onEnd after both sides closed", () => proxy.ends.length > 0);
        await settle();
        assert.deepEqual(proxy.ends, [101]);
      }),
    },
    {
      name: "close without code reaches upstream as 1000",
      run: withCleanup(async (cleanup) => {
        const { upstream, record } = startEchoUpstream(cleanup);
        const proxy = startProxy(cleanup, upstream);
        const { socket } = await connectClient(proxy.port, "/", []);

        socket.close();

        await waitFor("the upstream to see the close", () => record.closes.length > 0);
        assert.equal(record.closes[0]?.code, 1000);
      }),
    },
    {
      name: "abrupt client disconnect closes upstream",
      run: withCleanup(async (cleanup) => {
        const { upstream, record } = startEchoUpstream(cleanup);
        const proxy = startProxy(cleanup, upstream);

        const socket = createConnection({ host: loopback, port: proxy.port });
        socket.on("error", () => {});
        const lines = upgradeRequestLines("/").map((line) =>
          line.startsWith("Connection:") ? "Connection: Upgrade" : line
        );
        socket.write(`${lines.join("\r\n")}\r\n\r\n`);
        await new Promise<void>((resolve) => socket.once("data", () => resolve()));
        socket.destroy();

        await waitFor("the upstream to see the close", () => record.closes.length > 0);
        assert.equal(record.closes[0]?.code, goingAwayCode);
        await waitFor("onEnd after both sides closed", () => proxy.ends.length > 0);
        await settle();
        assert.deepEqual(proxy.ends, [101]);
      }),
    },
    {
      name: "early upstream messages are delivered",
      run: withCleanup(async (cleanup) => {
        const { upstream } = startEchoUpstream(cleanup);
        // The delay lets the upstream's first messages reach the proxy before
        // the proxy learns that the client side of the upgrade is open.
        const proxy = startProxy(cleanup, upstream, { openDelayMs: 200 });

        const { socket, events } = await connectClient(proxy.port, "/early", []);
        await waitFor("three early messages", () => events.messages.length === 3);

        assert.deepEqual(events.messages, ["early-1", "early-2", "early-3"]);
        socket.close(1000);
      }),
    },
    {
      name: "rejected upgrade gives 502",
      run: withCleanup(async (cleanup) => {
        const upstream = startUpstream(cleanup, () => new Response("nope", { status: 403 }));
        const proxy = startProxy(cleanup, upstream);

        const response = await rawRequest(proxy.port, upgradeRequestLines("/"));

        assert.equal(response.status, 502);
        assert.equal(response.body, "Bad Gateway\n");
        assert.deepEqual(headerValues(response, "sec-websocket-accept"), []);
        assert.equal(proxy.rejections.length, 0);
        await settle();
        assert.deepEqual(proxy.ends, [502]);
      }),
    },
    {
      name: "refused upgrade rejects with UpstreamConnectError",
      run: withCleanup(async (cleanup) => {
        const port = await closedPort();
        const proxy = startProxy(cleanup, { hostname: loopback, port });

        const response = await rawRequest(proxy.port, upgradeRequestLines("/"));

        assert.equal(response.status, 503);
        assert.equal(proxy.rejections.length, 1);
        assert.ok(proxy.rejections[0] instanceof UpstreamConnectError);
        await settle();
        assert.deepEqual(proxy.ends, []);
      }),
    },
    {
      name: "silent upgrade gets 504 after the response timeout",
      run: withCleanup(async (cleanup) => {
        // The app reads the handshake and never responds.
        const upstream = await startRawUpstream(cleanup, () => undefined);
        const proxy = startProxy(cleanup, upstream, { responseTimeoutMs: 300 });

        const started = performance.now();
        const response = await rawRequest(proxy.port, upgradeRequestLines("/"));
        const elapsedMs = performance.now() - started;

        assert.equal(response.status, 504);
        assert.equal(response.body, "Gateway Timeout\n");
        assert.ok(elapsedMs >= 300, `answered after ${Math.round(elapsedMs)} ms`);
        assert.deepEqual(proxy.rejections, []);
        await settle();
        assert.deepEqual(proxy.ends, [504]);
      }),
    },
    {
      name: "upgrade to a silent address rejects in time",
      timeoutMs: 20_000,
      run: withCleanup(async (cleanup) => {
        const port = await blackholedPort(cleanup);
        const proxy = startProxy(cleanup, { hostname: loopback, port }, { connectTimeoutMs: 300 });

        const started = performance.now();
        const response = await rawRequest(proxy.port, upgradeRequestLines("/"));
        const elapsedMs = performance.now() - started;

        assert.equal(response.status, 503);
        assert.equal(proxy.rejections.length, 1);
        assert.ok(proxy.rejections[0] instanceof UpstreamConnectError, String(proxy.rejections[0]));
        assert.ok(elapsedMs < 2_000, `rejected after ${Math.round(elapsedMs)} ms`);
        assert.deepEqual(proxy.ends, []);
      }),
    },
    {
      name: "close code mapping table",
      run() {
        const table: [number, number, number][] = [
          [1000, 1011, 1000],
          [1001, 1011, 1001],
          [1005, 1011, 1000],
          [1006, 1011, 1011],
          [1006, 1001, 1001],
          [1015, 1011, 1011],
          [1014, 1011, 1014],
          [2999, 1011, 1011],
          [3000, 1011, 3000],
          [4999, 1011, 4999],
          [5000, 1011, 1011],
        ];
        for (const [received, fallback, expected] of table) {
          assert.equal(sendableCloseCode(received, fallback), expected, `code ${received}`);
        }
      },
    },
  ],
};
