/**
 * Tests for WebSocket upgrades on `denoRuntime.serve` and for the upstream
 * WebSocket client.
 */
import assert from "node:assert/strict";
import { denoRuntime } from "../../src/runtime/deno.ts";
import type { RunningServer, ServerSocket, ServerSocketHandlers } from "../../src/runtime/types.ts";

function startSocketServer(
  handlers: ServerSocketHandlers,
  protocol?: string,
  onRequest: (request: Request) => void = () => {},
): RunningServer {
  return denoRuntime.serve({
    hostname: "127.0.0.1",
    port: 0,
    handler: (request, context) => {
      onRequest(request);
      const response = context.upgrade({ handlers, ...(protocol ? { protocol } : {}) });
      return response ?? new Response("Upgrade Required\n", { status: 426 });
    },
  });
}

function openClient(url: string, protocols: string[] = []): Promise<WebSocket> {
  const socket = new WebSocket(url, protocols);
  socket.binaryType = "arraybuffer";
  return new Promise((resolve, reject) => {
    socket.onopen = () => resolve(socket);
    socket.onerror = () => reject(new Error(`websocket to ${url} failed to open`));
  });
}

function nextMessage(socket: WebSocket): Promise<string | ArrayBuffer> {
  return new Promise((resolve) => {
    socket.addEventListener("message", (event) => resolve(event.data), { once: true });
  });
}

function nextClose(socket: WebSocket): Promise<CloseEvent> {
  return new Promise((resolve) => socket.addEventListener("close", resolve, { once: true }));
}

Deno.test("upgrade relays frames both ways", async () => {
  const serverClosed = Promise.withResolvers<{ code: number; reason: string }>();
  const server = startSocketServer({
    open() {},
    message(socket, data) {
      socket.send(data);
    },
    close(_socket, code, reason) {
      serverClosed.resolve({ code, reason });
    },
    drain() {},
  }, "chat");

  try {
    const client = await openClient(`ws://127.0.0.1:${server.port}/ws`, ["other", "chat"]);
    assert.equal(client.protocol, "chat");

    client.send("hello");
    assert.equal(await nextMessage(client), "hello");

    client.send(new Uint8Array([1, 2, 3]));
    const binary = await nextMessage(client);
    assert.ok(binary instanceof ArrayBuffer, "binary frame arrived as text");
    assert.deepEqual([...new Uint8Array(binary)], [1, 2, 3]);

    const clientClosed = nextClose(client);
    client.close(4002, "client done");
    assert.deepEqual(await serverClosed.promise, { code: 4002, reason: "client done" });
    await clientClosed;
  } finally {
    await server.stop(true);
  }
});

Deno.test("ServerSocket close sends code and reason", async () => {
  const server = startSocketServer({
    open(socket) {
      socket.close(4001, "server done");
    },
    message() {},
    close() {},
    drain() {},
  });

  try {
    const client = await openClient(`ws://127.0.0.1:${server.port}/ws`);
    const closed = await nextClose(client);
    assert.equal(closed.code, 4001);
    assert.equal(closed.reason, "server done");
  } finally {
    await server.stop(true);
  }
});

Deno.test("ServerSocket close maps 1005 to 1000", async () => {
  const server = startSocketServer({
    open(socket) {
      socket.close(1005, "");
    },
    message() {},
    close() {},
    drain() {},
  });

  try {
    const client = await openClient(`ws://127.0.0.1:${server.port}/ws`);
    const closed = await nextClose(client);
    assert.equal(closed.code, 1000);
  } finally {
    await server.stop(true);
  }
});

Deno.test("ServerSocket send reports backpressure, then drain", async () => {
  const frame = new Uint8Array(256 * 1024);
  const drained = Promise.withResolvers<number>();
  let acceptedBeforeBackpressure = 0;
  let sawBackpressure = false;

  const server = startSocketServer({
    open(socket: ServerSocket) {
      // 64 frames of 256 KiB is 16 MiB, far above the 1 MiB high-water mark.
      for (let i = 0; i < 64; i++) {
        if (!socket.send(frame)) {
          sawBackpressure = true;
          break;
        }
        acceptedBeforeBackpressure++;
      }
    },
    message() {},
    close() {},
    drain(socket) {
      drained.resolve(socket.bufferedAmount);
    },
  });

  try {
    const client = await openClient(`ws://127.0.0.1:${server.port}/ws`);
    client.onmessage = () => {};
    const bufferedAtDrain = await drained.promise;

    assert.equal(sawBackpressure, true);
    assert.ok(acceptedBeforeBackpressure < 64);
    assert.ok(bufferedAtDrain <= 1024 * 1024, `bufferedAmount ${bufferedAtDrain} at drain`);
    client.close();
  } finally {
    await server.stop(true);
  }
});

Deno.test("upgrade returns undefined for plain HTTP", async () => {
  const server = startSocketServer({ open() {}, message() {}, close() {}, drain() {} });
  try {
    const response = await fetch(`http://127.0.0.1:${server.port}/ws`);
    await response.body?.cancel();
    assert.equal(response.status, 426);
  } finally {
    await server.stop(true);
  }
});

Deno.test("connectWebSocket sends headers, Host and protocols", async () => {
  // Deno drops a request's headers once it is upgraded, so they are copied first.
  let seen: Headers | undefined;
  const server = startSocketServer(
    { open() {}, message() {}, close() {}, drain() {} },
    "v2",
    (request) => (seen = new Headers(request.headers)),
  );

  try {
    const upstream = denoRuntime.connectWebSocket(`ws://127.0.0.1:${server.port}/socket`, {
      protocols: ["v1", "v2"],
      headers: [["host", "app.example.test"], ["x-forwarded-for", "203.0.113.7"]],
    });
    await new Promise((resolve, reject) => {
      upstream.onopen = resolve;
      upstream.onerror = () => reject(new Error("upstream websocket failed to open"));
    });

    assert.equal(upstream.protocol, "v2");
    assert.equal(seen?.get("host"), "app.example.test");
    assert.equal(seen?.get("x-forwarded-for"), "203.0.113.7");
    assert.equal(seen?.get("sec-websocket-protocol"), "v1, v2");

    const closed = nextClose(upstream);
    upstream.close();
    await closed;
  } finally {
    await server.stop(true);
  }
});

Deno.test("connectWebSocket close sends 1001 as 1000", async () => {
  const serverClosed = Promise.withResolvers<number>();
  const server = startSocketServer({
    open() {},
    message() {},
    close(_socket, code) {
      serverClosed.resolve(code);
    },
    drain() {},
  });

  try {
    const upstream = denoRuntime.connectWebSocket(`ws://127.0.0.1:${server.port}/socket`, {});
    await new Promise((resolve, reject) => {
      upstream.onopen = resolve;
      upstream.onerror = () => reject(new Error("upstream websocket failed to open"));
    });

    upstream.close(1001, "going away");
    assert.equal(await serverClosed.promise, 1000);
  } finally {
    await server.stop(true);
  }
});
