import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import type { RequestHandler, ServerSocketHandlers } from "../../src/runtime/index.ts";
import { stopWithin } from "../../src/app/https.ts";
import { isSystemError } from "../../src/listen-error.ts";
import { runtime } from "../../src/runtime/index.ts";
import { loadCertificateFiles } from "../../src/tls/certificate.ts";
import { HttpsListener } from "../../src/tls/listener.ts";
import { CertificateStore } from "../../src/tls/store.ts";
import { handshake, httpsGet, makeSelfSigned, makeTempDir } from "./support.ts";

const dir = makeTempDir();
const fallback = makeSelfSigned(dir.path, "fallback", ["fallback.example.com"]);
const wildcard = makeSelfSigned(dir.path, "wildcard", ["*.apps.example.com"]);
const added = makeSelfSigned(dir.path, "added", ["added.example.com"]);
const listeners: HttpsListener[] = [];
afterAll(async () => {
  await Promise.all(listeners.map((listener) => listener.stop(true)));
  dir.remove();
});

const echoSocket: ServerSocketHandlers = {
  open() {},
  message(socket, data) {
    socket.send(data);
  },
  close() {},
  drain() {},
};

const handler: RequestHandler = (request, context) => {
  if (request.headers.get("upgrade") === "websocket") {
    return context.upgrade({ handlers: echoSocket }) ?? new Response("no upgrade", { status: 400 });
  }
  return new Response(`host ${new URL(request.url).hostname}`);
};

/** Opens a WebSocket to the echo handler over TLS, accepting any certificate. */
async function openSocket(port: number): Promise<WebSocket> {
  // Bun's client WebSocket takes a `tls` option, which the standard one lacks.
  const BunWebSocket = WebSocket as unknown as new (
    url: string,
    options: { tls: { rejectUnauthorized: boolean } },
  ) => WebSocket;
  const socket = new BunWebSocket(`wss://127.0.0.1:${port}/ws`, {
    tls: { rejectUnauthorized: false },
  });
  await new Promise((resolve, reject) => {
    socket.addEventListener("open", resolve);
    socket.addEventListener("error", reject);
  });
  return socket;
}

function startListener(store: CertificateStore): HttpsListener {
  const listener = new HttpsListener({ hostname: "127.0.0.1", port: 0, handler, store });
  listeners.push(listener);
  return listener;
}

describe("HttpsListener", () => {
  test("serves the wildcard for its names", async () => {
    const store = new CertificateStore([
      loadCertificateFiles(fallback),
      loadCertificateFiles(wildcard),
    ]);
    const listener = startListener(store);
    const port = listener.port ?? 0;

    const result = await handshake(
      port,
      "myapp.apps.example.com",
      readFileSync(wildcard.certFile, "utf8"),
    );
    expect(result.subjectAltName).toBe("DNS:*.apps.example.com");
    expect(result.authorized).toBe(true);

    const response = await httpsGet(
      port,
      "myapp.apps.example.com",
      "/",
      readFileSync(wildcard.certFile, "utf8"),
    );
    expect(response.status).toBe(200);
    expect(response.body).toBe("host myapp.apps.example.com");
  });

  test("unknown name gets the default", async () => {
    const store = new CertificateStore([
      loadCertificateFiles(fallback),
      loadCertificateFiles(wildcard),
    ]);
    const listener = startListener(store);
    const result = await handshake(listener.port ?? 0, "nowhere.test");
    expect(result.subjectAltName).toBe("DNS:fallback.example.com");
  });

  test("starts when the first certificate arrives", async () => {
    const store = new CertificateStore();
    const listener = startListener(store);
    expect(listener.port).toBeUndefined();

    store.putIssued("added.example.com", loadCertificateFiles(added));
    await listener.settled();
    const result = await handshake(listener.port ?? 0, "added.example.com");
    expect(result.subjectAltName).toBe("DNS:added.example.com");
  });

  test("added certificate keeps open WebSocket", async () => {
    const store = new CertificateStore([loadCertificateFiles(fallback)]);
    const listener = startListener(store);
    const port = listener.port ?? 0;

    // Bun's client WebSocket takes a `tls` option, which the standard one lacks.
    const BunWebSocket = WebSocket as unknown as new (
      url: string,
      options: { tls: { rejectUnauthorized: boolean } },
    ) => WebSocket;
    const socket = new BunWebSocket(`wss://127.0.0.1:${port}/ws`, {
      tls: { rejectUnauthorized: false },
    });
    const messages: string[] = [];
    let closed = false;
    socket.addEventListener("message", (event) => messages.push(String(event.data)));
    socket.addEventListener("close", () => (closed = true));
    await new Promise((resolve, reject) => {
      socket.addEventListener("open", resolve);
      socket.addEventListener("error", reject);
    });

    store.putIssued("added.example.com", loadCertificateFiles(added));
    await listener.settled();
    expect(listener.generation).toBe(2);

    const result = await handshake(port, "added.example.com");
    expect(result.subjectAltName).toBe("DNS:added.example.com");

    socket.send("after swap");
    const deadline = Date.now() + 2_000;
    while (messages.length === 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(closed).toBe(false);
    expect(messages).toEqual(["after swap"]);
    socket.close();
  });

  test("stop closes open WebSocket at deadline", async () => {
    const store = new CertificateStore([loadCertificateFiles(fallback)]);
    const listener = new HttpsListener({ hostname: "127.0.0.1", port: 0, handler, store });
    const port = listener.port ?? 0;
    const first = await openSocket(port);
    // The swap retires the server that the first socket is on, and stop
    // must close that server too.
    store.putIssued("added.example.com", loadCertificateFiles(added));
    await listener.settled();
    const second = await openSocket(port);
    const closedSockets: string[] = [];
    first.addEventListener("close", () => closedSockets.push("first"));
    second.addEventListener("close", () => closedSockets.push("second"));

    const started = performance.now();
    await stopWithin([listener], 200);
    const elapsedMs = performance.now() - started;
    expect(elapsedMs).toBeGreaterThanOrEqual(190);
    expect(elapsedMs).toBeLessThan(2_000);

    const deadline = Date.now() + 2_000;
    while (closedSockets.length < 2 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(closedSockets.sort()).toEqual(["first", "second"]);
  });
});

describe("HTTPS bind errors", () => {
  const pem = {
    cert: readFileSync(fallback.certFile, "utf8"),
    key: readFileSync(fallback.keyFile, "utf8"),
  };

  /** Returns the error that `runtime.serve` throws for HTTPS on `port` with `key`, or undefined. */
  function serveError(port: number, key: string): unknown {
    try {
      const server = runtime.serve({
        hostname: "127.0.0.1",
        port,
        handler,
        tls: [{ cert: pem.cert, key }],
        reusePort: true,
      });
      void server.stop(true);
      return undefined;
    } catch (error) {
      return error;
    }
  }

  test("held port is a system error", async () => {
    const holder = createServer();
    await new Promise<void>((resolve) => {
      holder.listen({ host: "127.0.0.1", port: 0, exclusive: true }, resolve);
    });
    try {
      const address = holder.address();
      if (address === null || typeof address === "string") throw new Error("holder not bound");
      const error = serveError(address.port, pem.key);
      expect(error).toBeDefined();
      expect(isSystemError(error)).toBe(true);
    } finally {
      await new Promise((resolve) => holder.close(resolve));
    }
  });

  test("unreadable key is no system error", () => {
    const badKey = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
    const error = serveError(0, badKey);
    expect(error).toBeDefined();
    expect(isSystemError(error)).toBe(false);
  });
});
