/** Streaming, failure and exchange-end behaviour of the HTTP proxy. */
import assert from "node:assert/strict";
import { connect } from "node:net";
import { gzipSync } from "node:zlib";
import { bufferedBodyLimit, UpstreamConnectError } from "../../src/proxy/index.ts";
import { runtime } from "../../src/runtime/index.ts";
import type { CaseGroup } from "../support/cases.ts";
import {
  blackholedPort,
  closedPort,
  loopback,
  settle,
  sleep,
  startProxy,
  startRawUpstream,
  startUpstream,
  waitFor,
  withCleanup,
} from "./harness.ts";

const megabyte = 1024 * 1024;
const chunkSize = 64 * 1024;
const largeSize = 50 * megabyte;

/** Returns a chunk whose bytes all equal `index % 256`, so a reader can check order. */
function patternChunk(index: number): Uint8Array {
  return new Uint8Array(chunkSize).fill(index % 256);
}

/** Returns a stream of `count` pattern chunks, each after a pause of `gapMs`. */
function slowPatternStream(count: number, gapMs: number): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (sent === count) {
        controller.close();
        return;
      }
      await sleep(gapMs);
      controller.enqueue(patternChunk(sent++));
    },
  });
}

/** Reads a body to the end, checks the byte pattern and returns the byte count. */
async function readPattern(body: ReadableStream<Uint8Array>): Promise<number> {
  let total = 0;
  for await (const chunk of body) {
    for (let i = 0; i < chunk.length; i += 4096) {
      const expected = Math.floor((total + i) / chunkSize) % 256;
      assert.equal(chunk[i], expected, `byte ${total + i} is out of order`);
    }
    total += chunk.length;
  }
  return total;
}

/**
 * Sends a request to the proxy with the runtime's upstream client, which
 * passes bodies and `Content-Encoding` through untouched.
 */
function sendThroughRuntime(
  port: number,
  target: string,
  init: { method: string; headers: [string, string][]; body: ReadableStream<Uint8Array> | null },
): Promise<Response> {
  return runtime.fetchUpstream({
    hostname: "127.0.0.1",
    port,
    target,
    ...init,
    signal: new AbortController().signal,
    bufferLimit: 0,
    responseHeaders: (fields) => fields,
    onBodyEnd: () => undefined,
  });
}

function proxyUrl(port: number, path = "/"): string {
  return `http://${loopback}:${port}${path}`;
}

export const httpCases: CaseGroup = {
  name: "proxy http streaming",
  cases: [
    {
      name: "GET passes status, body and path",
      run: withCleanup(async (cleanup) => {
        const urls: string[] = [];
        const upstream = startUpstream(cleanup, (request) => {
          urls.push(request.url);
          return new Response("hello", { status: 201 });
        });
        const proxy = startProxy(cleanup, upstream);

        const response = await fetch(proxyUrl(proxy.port, "/a/b?c=d&e"));

        assert.equal(response.status, 201);
        assert.equal(await response.text(), "hello");
        assert.equal(new URL(urls[0] ?? "http://x/").pathname, "/a/b");
        assert.equal(new URL(urls[0] ?? "http://x/").search, "?c=d&e");
        await settle();
        assert.deepEqual(proxy.ends, [201]);
      }),
    },
    {
      name: "fixed-length upload keeps Content-Length",
      run: withCleanup(async (cleanup) => {
        const seen: { length: string | null; encoding: string | null; body: string }[] = [];
        const upstream = startUpstream(cleanup, async (request) => {
          seen.push({
            length: request.headers.get("content-length"),
            encoding: request.headers.get("transfer-encoding"),
            body: await request.text(),
          });
          return new Response("stored");
        });
        const proxy = startProxy(cleanup, upstream);

        const response = await fetch(proxyUrl(proxy.port), {
          method: "PUT",
          body: "x".repeat(1000),
        });

        assert.equal(response.status, 200);
        assert.equal(await response.text(), "stored");
        assert.equal(seen[0]?.length, "1000");
        assert.equal(seen[0]?.encoding, null);
        assert.equal(seen[0]?.body, "x".repeat(1000));
      }),
    },
    {
      name: "8 MB fixed-length upload arrives intact",
      timeoutMs: 20_000,
      run: withCleanup(async (cleanup) => {
        const size = 8 * megabyte;
        const sent = new Uint8Array(size);
        for (let i = 0; i < size; i += chunkSize) {
          sent.fill((i / chunkSize) % 256, i, i + chunkSize);
        }
        let length: string | null = null;
        const upstream = startUpstream(cleanup, async (request) => {
          length = request.headers.get("content-length");
          const received = new Uint8Array(await request.arrayBuffer());
          return new Response(Buffer.compare(received, sent) === 0 ? "same" : "different");
        });
        const proxy = startProxy(cleanup, upstream);

        const response = await fetch(proxyUrl(proxy.port), { method: "PUT", body: sent.slice() });

        assert.equal(response.status, 200);
        assert.equal(await response.text(), "same");
        assert.equal(length, String(size));
      }),
    },
    {
      name: "50 MB chunked upload streams",
      timeoutMs: 30_000,
      run: withCleanup(async (cleanup) => {
        let receivedBytes = 0;
        let outOfOrder: number | undefined;
        let encoding: string | null = null;
        const upstream = startUpstream(cleanup, async (request) => {
          encoding = request.headers.get("transfer-encoding");
          const reader = request.body?.getReader();
          for (;;) {
            const chunk = await reader?.read();
            if (!chunk || chunk.done) break;
            // The proxy frees each chunk after sending it, so the bytes are
            // checked here too, not only counted.
            for (let i = 0; i < chunk.value.length; i += 4096) {
              const expected = Math.floor((receivedBytes + i) / chunkSize) % 256;
              if (chunk.value[i] !== expected) outOfOrder ??= receivedBytes + i;
            }
            receivedBytes += chunk.value.length;
          }
          return new Response(String(receivedBytes));
        });
        const proxy = startProxy(cleanup, upstream);

        // The client sends 1 MB and then waits for the upstream to see bytes:
        // a proxy that buffered the whole body would never pass them on.
        let index = 0;
        let upstreamSawBytesEarly = false;
        const body = new ReadableStream<Uint8Array>({
          async pull(controller) {
            if (index === megabyte / chunkSize) {
              try {
                await waitFor("the upstream to receive the first bytes", () => receivedBytes > 0);
                upstreamSawBytesEarly = true;
              } catch (error) {
                controller.error(error);
                return;
              }
            }
            if (index * chunkSize >= largeSize) {
              controller.close();
              return;
            }
            controller.enqueue(patternChunk(index));
            index++;
          },
        });
        const response = await sendThroughRuntime(proxy.port, "/upload", {
          method: "POST",
          headers: [["host", "127.0.0.1"]],
          body,
        });

        assert.equal(upstreamSawBytesEarly, true);
        assert.equal(response.status, 200);
        assert.equal(await response.text(), String(largeSize));
        assert.equal(outOfOrder, undefined, `byte ${outOfOrder} is out of order`);
        assert.equal(encoding, "chunked");
      }),
    },
    {
      name: "50 MB download streams to the end",
      timeoutMs: 30_000,
      run: withCleanup(async (cleanup) => {
        const upstream = startUpstream(cleanup, () => {
          let index = 0;
          const body = new ReadableStream<Uint8Array>({
            pull(controller) {
              if (index * chunkSize >= largeSize) {
                controller.close();
                return;
              }
              controller.enqueue(patternChunk(index));
              index++;
            },
          });
          return new Response(body, { headers: { "content-type": "application/octet-stream" } });
        });
        const proxy = startProxy(cleanup, upstream);

        const response = await fetch(proxyUrl(proxy.port, "/download"));
        assert.equal(response.status, 200);
        assert.deepEqual(proxy.ends, [], "onEnd fired before the body was read");
        assert.ok(response.body, "download has no body");

        const total = await readPattern(response.body);

        assert.equal(total, largeSize);
        await waitFor("onEnd after the download", () => proxy.ends.length > 0);
        await settle();
        assert.deepEqual(proxy.ends, [200]);
      }),
    },
    {
      name: "download stalls for a client that stops reading",
      timeoutMs: 20_000,
      run: withCleanup(async (cleanup) => {
        const total = 64 * megabyte;
        let produced = 0;
        const upstream = startUpstream(cleanup, () => {
          const body = new ReadableStream<Uint8Array>({
            pull(controller) {
              if (produced >= total) {
                controller.close();
                return;
              }
              controller.enqueue(new Uint8Array(chunkSize));
              produced += chunkSize;
            },
          });
          return new Response(body, { headers: { "content-type": "application/octet-stream" } });
        });
        const proxy = startProxy(cleanup, upstream);

        // A raw client that reads the first bytes, then reads nothing more.
        const client = connect(proxy.port, loopback);
        cleanup.add(() => void client.destroy());
        let received = 0;
        client.on("data", (chunk: Buffer) => {
          received += chunk.length;
          client.pause();
        });
        client.write(`GET /download HTTP/1.1\r\nHost: ${loopback}\r\n\r\n`);
        await waitFor("the first bytes", () => received > 0);

        // Waits until the app has produced nothing for 300 ms, then checks how far it got.
        let last = -1;
        while (produced !== last && produced < total) {
          last = produced;
          await sleep(300);
        }
        assert.ok(produced < total / 2, `the app produced ${produced} bytes for a stalled client`);
      }),
    },
    {
      name: "gzip body passes byte-exact",
      run: withCleanup(async (cleanup) => {
        const text = Array.from({ length: 20_000 }, (_, i) => `line ${i}\n`).join("");
        const small = new Uint8Array(gzipSync("hello hello hello"));
        const large = new Uint8Array(gzipSync(text, { level: 1 }));
        const upstream = startUpstream(cleanup, (request) => {
          const body = request.url.endsWith("/large") ? large : small;
          return new Response(body, { headers: { "content-encoding": "gzip" } });
        });
        const proxy = startProxy(cleanup, upstream);

        for (const [path, expected] of [["/small", small], ["/large", large]] as const) {
          const response = await sendThroughRuntime(proxy.port, path, {
            method: "GET",
            headers: [["host", "127.0.0.1"], ["accept-encoding", "gzip"]],
            body: null,
          });
          assert.equal(response.headers.get("content-encoding"), "gzip", path);
          const received = new Uint8Array(await response.arrayBuffer());
          assert.deepEqual(received, expected, `${path} body changed`);
        }
      }),
    },
    {
      name: "SSE events arrive as sent",
      run: withCleanup(async (cleanup) => {
        let releaseSecond = () => {};
        const secondAllowed = new Promise<void>((resolve) => {
          releaseSecond = resolve;
        });
        const upstream = startUpstream(cleanup, () => {
          const encoder = new TextEncoder();
          const body = new ReadableStream<Uint8Array>({
            async start(controller) {
              controller.enqueue(encoder.encode("data: first\n\n"));
              await secondAllowed;
              controller.enqueue(encoder.encode("data: second\n\n"));
              controller.close();
            },
          });
          return new Response(body, { headers: { "content-type": "text/event-stream" } });
        });
        const proxy = startProxy(cleanup, upstream);

        const response = await fetch(proxyUrl(proxy.port, "/events"));
        assert.equal(response.headers.get("content-type"), "text/event-stream");
        const reader = response.body?.getReader();
        assert.ok(reader, "event stream has no body");
        const decoder = new TextDecoder();

        const first = await reader.read();
        assert.equal(decoder.decode(first.value), "data: first\n\n");

        // The listener's idle timeout would cut a quiet event stream unless the
        // proxy turns it off for this request.
        assert.equal(proxy.timeoutsDisabled, 1);
        await sleep(300);
        releaseSecond();
        const second = await reader.read();
        assert.equal(decoder.decode(second.value), "data: second\n\n");

        const end = await reader.read();
        assert.equal(end.done, true);
        await settle();
        assert.deepEqual(proxy.ends, [200]);
      }),
    },
    {
      name: "refused connection rejects with UpstreamConnectError",
      run: withCleanup(async (cleanup) => {
        const port = await closedPort();
        const proxy = startProxy(cleanup, { hostname: loopback, port });

        const response = await fetch(proxyUrl(proxy.port));
        await response.arrayBuffer();

        assert.equal(response.status, 503);
        assert.equal(proxy.rejections.length, 1);
        assert.ok(proxy.rejections[0] instanceof UpstreamConnectError);
        await settle();
        assert.deepEqual(proxy.ends, []);
      }),
    },
    {
      name: "silent upstream address rejects in time",
      timeoutMs: 20_000,
      run: withCleanup(async (cleanup) => {
        const port = await blackholedPort(cleanup);
        const proxy = startProxy(cleanup, { hostname: loopback, port }, { connectTimeoutMs: 300 });

        const started = performance.now();
        const response = await fetch(proxyUrl(proxy.port));
        const elapsedMs = performance.now() - started;

        assert.equal(response.status, 503);
        assert.equal(proxy.rejections.length, 1);
        assert.ok(proxy.rejections[0] instanceof UpstreamConnectError, String(proxy.rejections[0]));
        assert.ok(elapsedMs < 2_000, `rejected after ${Math.round(elapsedMs)} ms`);
        assert.deepEqual(proxy.ends, []);
      }),
    },
    {
      name: "slow upstream outlasts the connect check",
      run: withCleanup(async (cleanup) => {
        const upstream = startUpstream(cleanup, async () => {
          await sleep(800);
          return new Response("late but fine");
        });
        const proxy = startProxy(cleanup, upstream, { connectTimeoutMs: 100 });

        const response = await fetch(proxyUrl(proxy.port));

        assert.equal(response.status, 200);
        assert.equal(await response.text(), "late but fine");
        assert.deepEqual(proxy.rejections, []);
      }),
    },
    {
      name: "silent app gets 504 after the response timeout",
      run: withCleanup(async (cleanup) => {
        // The app reads the request head and never responds.
        const upstream = await startRawUpstream(cleanup, () => undefined);
        const proxy = startProxy(cleanup, upstream, { responseTimeoutMs: 300 });

        const started = performance.now();
        const response = await fetch(proxyUrl(proxy.port));
        const elapsedMs = performance.now() - started;

        assert.equal(response.status, 504);
        assert.equal(await response.text(), "Gateway Timeout\n");
        assert.ok(elapsedMs >= 300, `answered after ${Math.round(elapsedMs)} ms`);
        assert.ok(elapsedMs < 2_000, `answered after ${Math.round(elapsedMs)} ms`);
        assert.deepEqual(proxy.rejections, []);
        await settle();
        assert.deepEqual(proxy.ends, [504]);
      }),
    },
    {
      name: "response timeout starts after a slow upload",
      run: withCleanup(async (cleanup) => {
        const upstream = startUpstream(cleanup, async (request) => {
          const received = await request.arrayBuffer();
          return new Response(String(received.byteLength));
        });
        const proxy = startProxy(cleanup, upstream, { responseTimeoutMs: 300 });

        // The upload outlasts the timeout by far.
        const body = slowPatternStream(6, 150);
        const response = await sendThroughRuntime(proxy.port, "/upload", {
          method: "POST",
          headers: [["host", "127.0.0.1"]],
          body,
        });

        assert.equal(response.status, 200);
        assert.equal(await response.text(), String(6 * chunkSize));
      }),
    },
    {
      name: "response timeout spares a slow streamed body",
      run: withCleanup(async (cleanup) => {
        const upstream = startUpstream(cleanup, () => new Response(slowPatternStream(6, 150)));
        const proxy = startProxy(cleanup, upstream, { responseTimeoutMs: 300 });

        const response = await fetch(proxyUrl(proxy.port, "/stream"));

        assert.equal(response.status, 200);
        assert.equal(await readPattern(response.body!), 6 * chunkSize);
        await settle();
        assert.deepEqual(proxy.ends, [200]);
      }),
    },
    {
      name: "upstream closing without response gives 502",
      run: withCleanup(async (cleanup) => {
        const upstream = await startRawUpstream(cleanup, (socket) => socket.destroy());
        const proxy = startProxy(cleanup, upstream);

        const response = await fetch(proxyUrl(proxy.port));
        const body = await response.text();

        assert.equal(response.status, 502);
        assert.equal(body, "Bad Gateway\n");
        assert.equal(proxy.rejections.length, 0);
        await settle();
        assert.deepEqual(proxy.ends, [502]);
      }),
    },
    {
      name: "1 MiB fixed-length body keeps Content-Length",
      run: withCleanup(async (cleanup) => {
        const body = new Uint8Array(megabyte).fill(7);
        const upstream = startUpstream(cleanup, () => new Response(body));
        const proxy = startProxy(cleanup, upstream);

        const response = await fetch(proxyUrl(proxy.port, "/file"));

        assert.equal(response.headers.get("content-length"), String(megabyte));
        assert.equal(response.headers.get("transfer-encoding"), null);
        assert.deepEqual(new Uint8Array(await response.arrayBuffer()), body);
        await settle();
        assert.deepEqual(proxy.ends, [200]);
      }),
    },
    {
      name: "slow fixed-length body keeps Content-Length",
      run: withCleanup(async (cleanup) => {
        // The body arrives after the head, so the runtime's fetch has not
        // read it whole when the proxy gets the response.
        const upstream = await startRawUpstream(cleanup, (socket) => {
          socket.write("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello");
          setTimeout(() => socket.end("world"), 100);
        });
        const proxy = startProxy(cleanup, upstream);

        const response = await fetch(proxyUrl(proxy.port));

        assert.equal(response.headers.get("content-length"), "10");
        assert.equal(response.headers.get("transfer-encoding"), null);
        assert.equal(await response.text(), "helloworld");
        assert.deepEqual(proxy.ends, [200]);
      }),
    },
    {
      name: "body over the buffer limit streams",
      run: withCleanup(async (cleanup) => {
        const size = bufferedBodyLimit + 1;
        const upstream = startUpstream(cleanup, () => new Response(new Uint8Array(size)));
        const proxy = startProxy(cleanup, upstream);

        const response = await fetch(proxyUrl(proxy.port));

        assert.equal((await response.arrayBuffer()).byteLength, size);
        await waitFor("onEnd after the body", () => proxy.ends.length > 0);
        assert.equal(proxy.timeoutsDisabled, 1, "the streamed body kept the idle timeout");
        await settle();
        assert.deepEqual(proxy.ends, [200]);
      }),
    },
    {
      name: "upstream dying in a fixed-length body gives 502",
      run: withCleanup(async (cleanup) => {
        const upstream = await startRawUpstream(cleanup, (socket) => {
          socket.write("HTTP/1.1 200 OK\r\nContent-Length: 200000\r\n\r\n");
          socket.write("x".repeat(1000), () => setTimeout(() => socket.destroy(), 50));
        });
        const proxy = startProxy(cleanup, upstream);

        const response = await fetch(proxyUrl(proxy.port));

        assert.equal(response.status, 502);
        assert.doesNotMatch(await response.text(), /127\.0\.0\.1|x{10}/);
        await settle();
        assert.deepEqual(proxy.ends, [502]);
      }),
    },
    {
      name: "client leaving a fixed-length body gives 499",
      run: withCleanup(async (cleanup) => {
        let upstreamClosed = false;
        const upstream = await startRawUpstream(cleanup, (socket) => {
          socket.on("close", () => {
            upstreamClosed = true;
          });
          socket.write("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nstart");
        });
        const proxy = startProxy(cleanup, upstream);

        const abort = new AbortController();
        const pending = fetch(proxyUrl(proxy.port), { signal: abort.signal });
        await sleep(200);
        abort.abort();
        await assert.rejects(pending);

        await waitFor("the upstream connection to close", () => upstreamClosed);
        await waitFor("onEnd after the disconnect", () => proxy.ends.length > 0);
        await settle();
        assert.deepEqual(proxy.ends, [499]);
      }),
    },
    {
      name: "upstream dying mid-body truncates response",
      run: withCleanup(async (cleanup) => {
        const upstream = await startRawUpstream(cleanup, (socket) => {
          socket.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
          const chunk = `${(1000).toString(16)}\r\n${"x".repeat(1000)}\r\n`;
          socket.write(chunk, () => setTimeout(() => socket.destroy(), 50));
        });
        const proxy = startProxy(cleanup, upstream);

        const response = await fetch(proxyUrl(proxy.port));
        assert.equal(response.status, 200);
        let received = 0;
        let failed = false;
        try {
          for await (const chunk of response.body ?? new ReadableStream()) {
            received += (chunk as Uint8Array).length;
          }
        } catch {
          failed = true;
        }

        assert.equal(failed, true, `body ended normally after ${received} bytes`);
        assert.ok(received < 200_000, `received ${received} bytes`);
        await waitFor("onEnd after the upstream died", () => proxy.ends.length > 0);
        await settle();
        assert.deepEqual(proxy.ends, [200]);
      }),
    },
    {
      name: "client disconnect cancels upstream body",
      run: withCleanup(async (cleanup) => {
        let upstreamCancelled = false;
        const upstream = startUpstream(cleanup, () => {
          let timer: ReturnType<typeof setInterval> | undefined;
          const body = new ReadableStream<Uint8Array>({
            start(controller) {
              timer = setInterval(() => controller.enqueue(new Uint8Array(100)), 20);
            },
            cancel() {
              upstreamCancelled = true;
              clearInterval(timer);
            },
          });
          return new Response(body);
        });
        const proxy = startProxy(cleanup, upstream);

        const abort = new AbortController();
        const response = await fetch(proxyUrl(proxy.port, "/stream"), { signal: abort.signal });
        const reader = response.body?.getReader();
        await reader?.read();
        abort.abort();

        await waitFor("the upstream body to be cancelled", () => upstreamCancelled);
        await waitFor("onEnd after the disconnect", () => proxy.ends.length > 0);
        await settle();
        assert.deepEqual(proxy.ends, [200]);
      }),
    },
    {
      name: "client disconnect before response aborts upstream",
      run: withCleanup(async (cleanup) => {
        let upstreamAborted = false;
        const upstream = startUpstream(cleanup, async (request) => {
          request.signal.addEventListener("abort", () => {
            upstreamAborted = true;
          });
          await sleep(3_000);
          return new Response("late");
        });
        const proxy = startProxy(cleanup, upstream);

        const abort = new AbortController();
        const pending = fetch(proxyUrl(proxy.port, "/slow"), { signal: abort.signal });
        await sleep(200);
        abort.abort();
        await assert.rejects(pending);

        await waitFor("the upstream request to be aborted", () => upstreamAborted);
        await waitFor("onEnd after the disconnect", () => proxy.ends.length > 0);
        await settle();
        assert.deepEqual(proxy.ends, [499]);
      }),
    },
  ],
};
