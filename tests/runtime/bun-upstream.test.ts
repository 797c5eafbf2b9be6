/**
 * The Bun adapter's upstream client over real loopback sockets. Raw
 * `Bun.listen` servers write exact response bytes and record the exact
 * request bytes, which no HTTP server library would allow.
 */
import { afterEach, describe, test } from "bun:test";
import assert from "node:assert/strict";
import type { Socket, TCPSocketListener } from "bun";
import { UpstreamClient } from "../../src/runtime/bun-upstream.ts";
import { ResponseParseError } from "../../src/runtime/http1.ts";
import type { UpstreamRequest } from "../../src/runtime/types.ts";
import { closedPort, loopback, settle, waitFor } from "../proxy/harness.ts";

/** One connection accepted by a raw server. */
interface RawConnection {
  /** Position in accept order, from 0. */
  readonly index: number;
  readonly socket: Socket<RawConnection>;
  /** Every byte received so far, decoded as Latin-1. */
  received: string;
  /** Responses written so far, for servers that respond to requests in turn. */
  responses: number;
  closed: boolean;
}

interface RawServer {
  readonly port: number;
  /** Accepted connections, in accept order. */
  readonly connections: RawConnection[];
}

interface RawHandlers {
  /** Called after each read, with the bytes received so far in `connection.received`. */
  data(connection: RawConnection): void;
  drain?(connection: RawConnection): void;
}

interface BodyEnd {
  status: number;
  bytes: number;
  truncated: boolean;
}

type TestRequest = UpstreamRequest & { ends: BodyEnd[] };

const listeners: TCPSocketListener<RawConnection>[] = [];
const clients: UpstreamClient[] = [];

afterEach(() => {
  for (const client of clients.splice(0)) client.close();
  for (const listener of listeners.splice(0)) listener.stop(true);
});

function startClient(): UpstreamClient {
  const client = new UpstreamClient();
  clients.push(client);
  return client;
}

function startRawServer(handlers: RawHandlers): RawServer {
  const connections: RawConnection[] = [];
  const listener = Bun.listen<RawConnection>({
    hostname: loopback,
    port: 0,
    socket: {
      open(socket) {
        const connection = {
          index: connections.length,
          socket,
          received: "",
          responses: 0,
          closed: false,
        };
        socket.data = connection;
        connections.push(connection);
      },
      data(socket, data) {
        socket.data.received += data.toString("latin1");
        handlers.data(socket.data);
      },
      drain(socket) {
        handlers.drain?.(socket.data);
      },
      close(socket) {
        socket.data.closed = true;
      },
    },
  });
  listeners.push(listener);
  return { port: listener.port, connections };
}

/** Returns the number of complete request heads in `text`, for requests without a body. */
function countHeads(text: string): number {
  return text.split("\r\n\r\n").length - 1;
}

/** Returns a server handler that writes `response` once for each request head received. */
function respondToEach(response: string): RawHandlers["data"] {
  return (connection) => {
    const heads = countHeads(connection.received);
    while (connection.responses < heads) {
      connection.responses++;
      connection.socket.write(response);
    }
  };
}

const okResponse = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

function upstreamRequest(port: number, options: Partial<UpstreamRequest> = {}): TestRequest {
  const ends: BodyEnd[] = [];
  return {
    hostname: loopback,
    port,
    method: "GET",
    target: "/",
    headers: [],
    body: null,
    signal: new AbortController().signal,
    bufferLimit: 1024 * 1024,
    responseHeaders: (fields) => fields,
    onBodyEnd(status, bytes, truncated) {
      ends.push({ status, bytes, truncated });
    },
    ...options,
    ends,
  };
}

function bodyStream(...pieces: string[]): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      for (const piece of pieces) controller.enqueue(Buffer.from(piece, "latin1"));
      controller.close();
    },
  });
}

/** Reads `body` to its end and returns the bytes decoded as Latin-1. */
async function readText(body: ReadableStream<Uint8Array> | null): Promise<string> {
  assert.ok(body, "response has no body");
  let text = "";
  for await (const chunk of body) text += Buffer.from(chunk).toString("latin1");
  return text;
}

/** Asserts that `promise` rejects with an error whose `code` is `code`. */
async function assertRejectsWithCode(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.equal((error as { code?: unknown }).code, code, `unexpected error ${error}`);
    return true;
  });
}

describe("bun upstream client", () => {
  test("pooled connection reused", async () => {
    const server = startRawServer({ data: respondToEach(okResponse) });
    const client = startClient();

    for (let i = 0; i < 3; i++) {
      const request = upstreamRequest(server.port);
      const response = await client.send(request);
      assert.equal(response.status, 200);
      assert.equal(await response.text(), "ok");
      assert.deepEqual(request.ends, [{ status: 200, bytes: 2, truncated: false }]);
    }

    assert.equal(server.connections.length, 1);
    assert.equal(countHeads(server.connections[0]!.received), 3);
  });

  test("GET retried after idle close", async () => {
    // The first connection responds to one request and closes when the next
    // one arrives, as an app does when its keep-alive timeout expires in between.
    const server = startRawServer({
      data(connection) {
        if (connection.index > 0 || countHeads(connection.received) === 1) {
          respondToEach(okResponse)(connection);
        } else {
          connection.socket.end();
        }
      },
    });
    const client = startClient();
    const first = await client.send(upstreamRequest(server.port));
    assert.equal(await first.text(), "ok");

    const request = upstreamRequest(server.port, { target: "/second" });
    const second = await client.send(request);

    assert.equal(second.status, 200);
    assert.equal(await second.text(), "ok");
    assert.equal(server.connections.length, 2);
    assert.match(server.connections[0]!.received, /GET \/second HTTP\/1\.1\r\n/);
    assert.match(server.connections[1]!.received, /^GET \/second HTTP\/1\.1\r\n/);
    assert.deepEqual(request.ends, [{ status: 200, bytes: 2, truncated: false }]);
  });

  test("requests with body or POST not retried", async () => {
    // PUT is idempotent, but its body stream was already read once. POST is not idempotent.
    const variants: Partial<UpstreamRequest>[] = [
      { method: "POST", headers: [["content-length", "3"]], body: bodyStream("abc") },
      { method: "PUT", headers: [["content-length", "3"]], body: bodyStream("abc") },
      { method: "POST" },
    ];
    for (const options of variants) {
      const server = startRawServer({
        data(connection) {
          if (countHeads(connection.received) === 1) respondToEach(okResponse)(connection);
          else connection.socket.end();
        },
      });
      const client = startClient();
      const first = await client.send(upstreamRequest(server.port));
      assert.equal(await first.text(), "ok");

      const request = upstreamRequest(server.port, options);
      const label = `${options.method} with body ${options.body !== undefined}`;
      await assert.rejects(client.send(request), (error: unknown) => {
        assert.equal((error as { code?: unknown }).code, "ECONNRESET", `${label}: ${error}`);
        return true;
      });
      assert.equal(server.connections.length, 1, `${label} retried`);
      assert.deepEqual(request.ends, []);
    }
  });

  test("GET not retried after partial response", async () => {
    const server = startRawServer({
      data(connection) {
        if (countHeads(connection.received) === 1) {
          respondToEach(okResponse)(connection);
          return;
        }
        connection.socket.write("HTTP/1.1 200 OK\r\n");
        connection.socket.end();
      },
    });
    const client = startClient();
    const first = await client.send(upstreamRequest(server.port));
    assert.equal(await first.text(), "ok");

    await assertRejectsWithCode(client.send(upstreamRequest(server.port)), "ECONNRESET");
    assert.equal(server.connections.length, 1);
  });

  test("chunked body streamed and decoded", async () => {
    const server = startRawServer({
      data(connection) {
        if (connection.responses === countHeads(connection.received)) return;
        connection.responses++;
        connection.socket.write(
          "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n",
        );
      },
    });
    const client = startClient();
    const request = upstreamRequest(server.port);
    const response = await client.send(request);
    const reader = response.body!.getReader();

    // The first chunk arrives before the upstream sent the rest.
    const first = await reader.read();
    assert.equal(Buffer.from(first.value!).toString("latin1"), "hello");
    assert.deepEqual(request.ends, []);

    server.connections[0]!.socket.write("6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n");
    let rest = "";
    for (;;) {
      const chunk = await reader.read();
      if (chunk.done) break;
      rest += Buffer.from(chunk.value).toString("latin1");
    }
    assert.equal(rest, " world");
    assert.deepEqual(request.ends, [{ status: 200, bytes: 11, truncated: false }]);

    // The body ended cleanly, so the connection carries the next request.
    const next = await client.send(upstreamRequest(server.port));
    assert.equal(next.status, 200);
    assert.equal(server.connections.length, 1);
    await next.body?.cancel();
  });

  test("body within bufferLimit read whole", async () => {
    // A limit equal to the length and one above it.
    for (const bufferLimit of [10, 11]) {
      const server = startRawServer({
        data(connection) {
          connection.socket.write("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01234");
        },
      });
      const client = startClient();
      const request = upstreamRequest(server.port, { bufferLimit });
      let endsAtResolve: number | undefined;
      let resolved = false;
      const sent = client.send(request).then((response) => {
        resolved = true;
        endsAtResolve = request.ends.length;
        return response;
      });

      await waitFor("request at the server", () => server.connections.length === 1);
      await settle();
      assert.equal(resolved, false, `resolved before the whole body with limit ${bufferLimit}`);

      server.connections[0]!.socket.write("56789");
      const response = await sent;
      assert.equal(endsAtResolve, 1, `onBodyEnd before resolve with limit ${bufferLimit}`);
      assert.deepEqual(request.ends, [{ status: 200, bytes: 10, truncated: false }]);
      assert.equal(await response.text(), "0123456789");
    }
  });

  test("body over bufferLimit streamed", async () => {
    const server = startRawServer({
      data(connection) {
        connection.socket.write("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01234");
      },
    });
    const client = startClient();
    const request = upstreamRequest(server.port, { bufferLimit: 9 });

    // The response resolves while half of the body is still to come.
    const response = await client.send(request);
    assert.deepEqual(request.ends, []);

    server.connections[0]!.socket.write("56789");
    assert.equal(await response.text(), "0123456789");
    assert.deepEqual(request.ends, [{ status: 200, bytes: 10, truncated: false }]);
  });

  test("large body read with backpressure", async () => {
    const total = 50 * 1024 * 1024;
    const filler = Buffer.alloc(64 * 1024, "a");
    let sent = 0;
    let blocked = false;
    const pump = (connection: RawConnection) => {
      blocked = false;
      while (sent < total) {
        const size = Math.min(filler.length, total - sent);
        const written = connection.socket.write(filler.subarray(0, size));
        sent += Math.max(written, 0);
        if (written < size) {
          blocked = true;
          return;
        }
      }
    };
    const server = startRawServer({
      data(connection) {
        if (connection.responses > 0) return;
        connection.responses++;
        connection.socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${total}\r\n\r\n`);
        pump(connection);
      },
      drain: pump,
    });
    const client = startClient();
    const request = upstreamRequest(server.port, { bufferLimit: 1024 });
    const response = await client.send(request);

    // Nothing reads the body yet, so the client stops reading the socket and
    // the upstream's writes stall far short of the whole body. The kernel
    // grows loopback socket buffers after the first stall, so the writes
    // count as stalled once a settle period passes without progress.
    await waitFor("upstream writes to block", () => blocked || sent === total);
    let sentBefore = -1;
    while (sent !== sentBefore && sent < total) {
      sentBefore = sent;
      await settle();
    }
    assert.ok(sent < total / 2, `upstream wrote ${sent} of ${total} bytes before stalling`);
    assert.equal(blocked, true);
    assert.deepEqual(request.ends, []);

    let bytes = 0;
    for await (const chunk of response.body!) bytes += chunk.byteLength;
    assert.equal(bytes, total);
    assert.deepEqual(request.ends, [{ status: 200, bytes: total, truncated: false }]);
  });

  test("cancelled body closes connection", async () => {
    const server = startRawServer({
      data(connection) {
        connection.socket.write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789");
      },
    });
    const client = startClient();
    const request = upstreamRequest(server.port, { bufferLimit: 0 });
    const response = await client.send(request);
    const reader = response.body!.getReader();
    const first = await reader.read();
    assert.equal(first.value?.byteLength, 10);

    await reader.cancel();
    assert.deepEqual(request.ends, [{ status: 200, bytes: 10, truncated: true }]);
    await waitFor("connection closed", () => server.connections[0]!.closed);
  });

  test("interim responses skipped", async () => {
    const interim = "HTTP/1.1 100 Continue\r\n\r\n" +
      "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n";
    const final = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    // All in one write, and split inside each head.
    const writes = [[interim + final], [
      interim.slice(0, 30),
      interim.slice(30) + final.slice(0, 5),
    ]];
    for (const pieces of writes) {
      const server = startRawServer({
        data(connection) {
          for (const piece of pieces) connection.socket.write(piece);
          if (pieces.length > 1) {
            setTimeout(() => connection.socket.write(final.slice(5)), 20);
          }
        },
      });
      const client = startClient();
      const request = upstreamRequest(server.port);
      const response = await client.send(request);

      assert.equal(response.status, 200);
      assert.equal(response.statusText, "OK");
      assert.equal(response.headers.get("link"), null);
      assert.equal(await response.text(), "ok");
      assert.deepEqual(request.ends, [{ status: 200, bytes: 2, truncated: false }]);
    }
  });

  test("unexpected 101 rejected", async () => {
    const server = startRawServer({
      data(connection) {
        connection.socket.write(
          "HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n",
        );
      },
    });
    const client = startClient();
    const request = upstreamRequest(server.port);

    await assert.rejects(client.send(request), ResponseParseError);
    assert.deepEqual(request.ends, []);
    await waitFor("connection closed", () => server.connections[0]!.closed);
  });

  test("status outside 100-599 rejected", async () => {
    for (const statusLine of ["HTTP/1.1 600 Custom", "HTTP/1.1 099 Low"]) {
      const server = startRawServer({
        data(connection) {
          connection.socket.write(`${statusLine}\r\nContent-Length: 2\r\n\r\nok`);
        },
      });
      const client = startClient();
      const request = upstreamRequest(server.port);

      await assert.rejects(client.send(request), ResponseParseError, statusLine);
      assert.deepEqual(request.ends, [], statusLine);
    }
  });

  test("malformed response rejected", async () => {
    const responses = [
      "HTTP/1.1 2OO OK\r\n\r\n",
      "HTTP/1.1 200 OK\r\nBad Name: 1\r\n\r\n",
      "HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok",
      "HTTP/1.1 200 OK\r\nContent-Length: -2\r\n\r\nok",
      `HTTP/1.1 200 OK\r\nX-Pad: ${"a".repeat(70 * 1024)}`,
      `HTTP/1.1 200 OK\r\nX-Pad: ${"a".repeat(70 * 1024)}\r\nContent-Length: 0\r\n\r\n`,
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
    ];
    for (const text of responses) {
      const server = startRawServer({
        data(connection) {
          connection.socket.write(text);
        },
      });
      const client = startClient();
      const request = upstreamRequest(server.port);

      await assert.rejects(
        client.send(request),
        ResponseParseError,
        `accepted ${JSON.stringify(text.slice(0, 60))}`,
      );
      assert.deepEqual(request.ends, []);
      await waitFor("connection closed", () => server.connections[0]!.closed);
    }
  });

  test("malformed chunk with the head rejected", async () => {
    const server = startRawServer({
      data(connection) {
        connection.socket.write(
          "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\nzz\r\n",
        );
      },
    });
    const client = startClient();
    const request = upstreamRequest(server.port);

    await assert.rejects(client.send(request), ResponseParseError);
    assert.deepEqual(request.ends, []);
    await waitFor("connection closed", () => server.connections[0]!.closed);
  });

  test("malformed later chunk errors stream", async () => {
    const server = startRawServer({
      data(connection) {
        if (connection.responses > 0) return;
        connection.responses++;
        connection.socket.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n");
      },
    });
    const client = startClient();
    const request = upstreamRequest(server.port);
    const response = await client.send(request);
    const reader = response.body!.getReader();
    const first = await reader.read();
    assert.equal(Buffer.from(first.value!).toString("latin1"), "ok");

    server.connections[0]!.socket.write("zz\r\n");
    await assert.rejects(reader.read(), ResponseParseError);
    assert.deepEqual(request.ends, [{ status: 200, bytes: 2, truncated: true }]);
    await waitFor("connection closed", () => server.connections[0]!.closed);
  });

  test("upstream close mid-body truncates stream", async () => {
    const responses = [
      "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na\r\n0123456789\r\n",
    ];
    for (const text of responses) {
      const server = startRawServer({
        data(connection) {
          connection.socket.write(text);
          connection.socket.end();
        },
      });
      const client = startClient();
      const request = upstreamRequest(server.port, { bufferLimit: 0 });
      const response = await client.send(request);

      await assertRejectsWithCode(readText(response.body), "ECONNRESET");
      assert.deepEqual(request.ends, [{ status: 200, bytes: 10, truncated: true }]);
    }
  });

  test("upstream close mid-body rejects buffered", async () => {
    const server = startRawServer({
      data(connection) {
        connection.socket.write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789");
        connection.socket.end();
      },
    });
    const client = startClient();
    const request = upstreamRequest(server.port, { bufferLimit: 100 });

    await assertRejectsWithCode(client.send(request), "ECONNRESET");
    assert.deepEqual(request.ends, []);
  });

  test("body without framing read until close", async () => {
    const server = startRawServer({
      data(connection) {
        connection.socket.write("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nabc");
      },
    });
    const client = startClient();
    const request = upstreamRequest(server.port);
    const response = await client.send(request);
    const reader = response.body!.getReader();
    const first = await reader.read();
    assert.equal(Buffer.from(first.value!).toString("latin1"), "abc");

    server.connections[0]!.socket.write("def");
    server.connections[0]!.socket.end();
    let rest = "";
    for (;;) {
      const chunk = await reader.read();
      if (chunk.done) break;
      rest += Buffer.from(chunk.value).toString("latin1");
    }
    assert.equal(rest, "def");
    assert.deepEqual(request.ends, [{ status: 200, bytes: 6, truncated: false }]);
  });

  test("bytes after response close connection", async () => {
    const variants = [
      { bufferLimit: 1024, text: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA" },
      { bufferLimit: 0, text: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA" },
      {
        bufferLimit: 1024,
        text: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\nEXTRA",
      },
      { bufferLimit: 1024, text: "HTTP/1.1 204 No Content\r\n\r\nEXTRA" },
    ];
    for (const { bufferLimit, text } of variants) {
      const server = startRawServer({ data: respondToEach(text) });
      const client = startClient();
      const response = await client.send(upstreamRequest(server.port, { bufferLimit }));
      await response.text();

      await waitFor(
        `client to close after ${JSON.stringify(text)}`,
        () => server.connections[0]!.closed,
      );
      const next = await client.send(upstreamRequest(server.port, { bufferLimit }));
      await next.text();
      assert.equal(server.connections.length, 2, `connection reused after ${JSON.stringify(text)}`);
    }
  });

  test("bytes on idle connection close it", async () => {
    const server = startRawServer({ data: respondToEach(okResponse) });
    const client = startClient();
    const response = await client.send(upstreamRequest(server.port));
    assert.equal(await response.text(), "ok");

    server.connections[0]!.socket.write("HTTP/1.1 200 OK\r\n");
    await waitFor("idle connection closed", () => server.connections[0]!.closed);
    const next = await client.send(upstreamRequest(server.port));
    assert.equal(await next.text(), "ok");
    assert.equal(server.connections.length, 2);
  });

  test("abort before head rejects", async () => {
    const server = startRawServer({ data() {} });
    const client = startClient();
    const controller = new AbortController();
    const request = upstreamRequest(server.port, { signal: controller.signal });
    const sent = client.send(request);

    await waitFor(
      "request at the server",
      () => countHeads(server.connections[0]?.received ?? "") === 1,
    );
    const reason = new Error("client went away");
    controller.abort(reason);

    await assert.rejects(sent, (error: unknown) => error === reason);
    assert.deepEqual(request.ends, []);
    await waitFor("connection closed", () => server.connections[0]!.closed);
  });

  test("aborted signal rejects at once", async () => {
    const server = startRawServer({ data: respondToEach(okResponse) });
    const client = startClient();
    const reason = new Error("client went away");
    const request = upstreamRequest(server.port, { signal: AbortSignal.abort(reason) });

    await assert.rejects(client.send(request), (error: unknown) => error === reason);
    assert.equal(server.connections.length, 0);
  });

  test("abort during streamed body errors stream", async () => {
    const server = startRawServer({
      data(connection) {
        connection.socket.write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789");
      },
    });
    const client = startClient();
    const controller = new AbortController();
    const request = upstreamRequest(server.port, { bufferLimit: 0, signal: controller.signal });
    const response = await client.send(request);
    const reader = response.body!.getReader();
    assert.equal((await reader.read()).value?.byteLength, 10);

    const reason = new Error("client went away");
    controller.abort(reason);
    await assert.rejects(reader.read(), (error: unknown) => error === reason);
    assert.deepEqual(request.ends, [{ status: 200, bytes: 10, truncated: true }]);
    await waitFor("connection closed", () => server.connections[0]!.closed);
  });

  test("cancel rejects with reason", async () => {
    const server = startRawServer({ data() {} });
    const client = startClient();
    const request = upstreamRequest(server.port);
    const sent = client.send(request);

    await waitFor(
      "request at the server",
      () => countHeads(server.connections[0]?.received ?? "") === 1,
    );
    const reason = new Error("cancelled by the proxy");
    assert.ok(request.cancel, "send did not set request.cancel");
    request.cancel(reason);

    await assert.rejects(sent, (error: unknown) => error === reason);
    await waitFor("connection closed", () => server.connections[0]!.closed);
  });

  test("connection refused rejects with ECONNREFUSED", async () => {
    const client = startClient();
    const request = upstreamRequest(await closedPort());

    await assertRejectsWithCode(client.send(request), "ECONNREFUSED");
    assert.deepEqual(request.ends, []);
  });

  test("body with Content-Length sent raw", async () => {
    const body = "hello";
    const server = startRawServer({
      data(connection) {
        if (connection.received.endsWith(body)) connection.socket.write(okResponse);
      },
    });
    const client = startClient();
    const request = upstreamRequest(server.port, {
      method: "POST",
      target: "/upload?x=1",
      headers: [["content-length", "5"], ["content-type", "text/plain"]],
      body: bodyStream("he", "", "llo"),
    });
    const response = await client.send(request);
    assert.equal(await response.text(), "ok");

    assert.equal(
      server.connections[0]!.received,
      "POST /upload?x=1 HTTP/1.1\r\ncontent-type: text/plain\r\n" +
        `host: ${loopback}:${server.port}\r\ncontent-length: 5\r\n\r\nhello`,
    );
  });

  test("bodiless GET drops its Content-Length", async () => {
    // Bun gives a GET with `Content-Length: 10` no body. Passing the length on
    // would make the app read the next request on the connection as that body.
    const server = startRawServer({ data: respondToEach(okResponse) });
    const client = startClient();
    const request = upstreamRequest(server.port, {
      headers: [["content-length", "10"], ["transfer-encoding", "chunked"]],
    });
    const response = await client.send(request);
    assert.equal(await response.text(), "ok");

    assert.equal(
      server.connections[0]!.received,
      `GET / HTTP/1.1\r\nhost: ${loopback}:${server.port}\r\n\r\n`,
    );
  });

  test("bodiless POST sends a zero length", async () => {
    const server = startRawServer({ data: respondToEach(okResponse) });
    const client = startClient();
    const request = upstreamRequest(server.port, {
      method: "POST",
      headers: [["content-length", "7"]],
    });
    const response = await client.send(request);
    assert.equal(await response.text(), "ok");

    assert.equal(
      server.connections[0]!.received,
      `POST / HTTP/1.1\r\nhost: ${loopback}:${server.port}\r\ncontent-length: 0\r\n\r\n`,
    );
  });

  test("body longer than Content-Length rejected", async () => {
    const server = startRawServer({ data() {} });
    const client = startClient();
    const request = upstreamRequest(server.port, {
      method: "POST",
      headers: [["content-length", "3"]],
      body: bodyStream("hello"),
    });

    await assert.rejects(client.send(request), /longer than its Content-Length/);
    await waitFor("connection closed", () => server.connections[0]!.closed);
  });

  test("body shorter than Content-Length rejected", async () => {
    const server = startRawServer({ data() {} });
    const client = startClient();
    const request = upstreamRequest(server.port, {
      method: "POST",
      headers: [["content-length", "9"]],
      body: bodyStream("hello"),
    });

    await assert.rejects(client.send(request), /ended after 5 of 9 bytes/);
    await waitFor("connection closed", () => server.connections[0]!.closed);
  });

  test("body without length sent chunked", async () => {
    const server = startRawServer({
      data(connection) {
        if (connection.received.endsWith("\r\n0\r\n\r\n")) connection.socket.write(okResponse);
      },
    });
    const client = startClient();
    const request = upstreamRequest(server.port, {
      method: "PUT",
      target: "/upload",
      body: bodyStream("he", "", "llo world!"),
    });
    const response = await client.send(request);
    assert.equal(await response.text(), "ok");

    // The empty piece is skipped, because a zero-size chunk would end the body early.
    assert.equal(
      server.connections[0]!.received,
      `PUT /upload HTTP/1.1\r\nhost: ${loopback}:${server.port}\r\n` +
        "transfer-encoding: chunked\r\n\r\n2\r\nhe\r\na\r\nllo world!\r\n0\r\n\r\n",
    );

    // The request body was sent whole, so the connection is reused.
    const next = await client.send(upstreamRequest(server.port, { body: bodyStream("x") }));
    assert.equal(await next.text(), "ok");
    assert.equal(server.connections.length, 1);
  });

  test("CR, LF or NUL in request head rejected", async () => {
    const server = startRawServer({ data: respondToEach(okResponse) });
    const client = startClient();
    const invalid: Partial<UpstreamRequest>[] = [
      { headers: [["x-a", "a\r\nx-injected: 1"]] },
      { headers: [["x-a", "a\nx-injected: 1"]] },
      { headers: [["x-a", "a\rb"]] },
      { headers: [["x-a", "a\0b"]] },
      { headers: [["x-a\r\nx-injected", "1"]] },
      { target: "/a HTTP/1.1\r\nx-injected: 1\r\n\r\nGET /b" },
      { target: "http://example.com/" },
    ];
    for (const options of invalid) {
      const request = upstreamRequest(server.port, options);
      await assert.rejects(client.send(request), TypeError, JSON.stringify(options));
      assert.deepEqual(request.ends, []);
    }

    await waitFor(
      "every connection closed",
      () =>
        server.connections.length === invalid.length &&
        server.connections.every((connection) => connection.closed),
    );
    for (const connection of server.connections) {
      assert.equal(connection.received, "", `connection ${connection.index} received bytes`);
    }
  });

  test("Host added when missing", async () => {
    const server = startRawServer({ data: respondToEach(okResponse) });
    const client = startClient();
    const response = await client.send(
      upstreamRequest(server.port, { headers: [["accept", "*/*"]] }),
    );
    await response.text();

    assert.equal(
      server.connections[0]!.received,
      `GET / HTTP/1.1\r\naccept: */*\r\nhost: ${loopback}:${server.port}\r\n\r\n`,
    );
  });

  test("Host kept when given", async () => {
    const server = startRawServer({ data: respondToEach(okResponse) });
    const client = startClient();
    const response = await client.send(
      upstreamRequest(server.port, { headers: [["host", "app.example"]] }),
    );
    await response.text();

    assert.equal(server.connections[0]!.received, "GET / HTTP/1.1\r\nhost: app.example\r\n\r\n");
  });

  test("long head sent whole", async () => {
    const server = startRawServer({ data: respondToEach(okResponse) });
    const client = startClient();
    // Three 20 KiB values outgrow the client's 16 KiB head buffer.
    const values = ["a", "b", "c"].map((letter) => letter.repeat(20 * 1024));
    const first = await client.send(
      upstreamRequest(server.port, {
        headers: [
          ["host", "app.example"],
          ...values.map((value, i): [string, string] => [`x-${i}`, value]),
        ],
      }),
    );
    await first.text();
    const second = await client.send(
      upstreamRequest(server.port, { headers: [["host", "app.example"], ["x-name", "caf\u00e9"]] }),
    );
    await second.text();

    const expectedFirst = "GET / HTTP/1.1\r\nhost: app.example\r\n" +
      values.map((value, i) => `x-${i}: ${value}\r\n`).join("") + "\r\n";
    const expectedSecond = "GET / HTTP/1.1\r\nhost: app.example\r\nx-name: caf\u00e9\r\n\r\n";
    assert.equal(server.connections.length, 1);
    assert.equal(server.connections[0]!.received, expectedFirst + expectedSecond);
  });

  test("idle connection closed after 4 s", async () => {
    const server = startRawServer({ data: respondToEach(okResponse) });
    const client = startClient();
    const response = await client.send(upstreamRequest(server.port));
    const idleSince = performance.now();
    await response.text();

    await waitFor("idle connection closed", () => server.connections[0]!.closed, 6_000);
    const idleMs = performance.now() - idleSince;
    assert.ok(idleMs >= 3_900, `closed after ${Math.round(idleMs)} ms idle`);
  }, 8_000);
});
