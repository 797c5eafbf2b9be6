/**
 * The upstream app every contestant proxies to. It runs as its own process,
 * stand-alone or as a simulated VM's app command, and listens on `HOST`
 * (default 127.0.0.1) and `PORT` (default 0, an ephemeral port). It prints
 * the bound port on its first stdout line.
 *
 *   GET  /             a 13-byte text body
 *   GET  /bytes?n=N    N bytes, streamed in 256 KiB chunks
 *   POST /upload       reads the body and returns its length in bytes
 *   GET  /sse?n=N      N server-sent events, then the stream ends
 *   GET  /ws           WebSocket echo
 */
import { runtime } from "../../src/runtime/index.ts";
import type { ServerSocketHandlers } from "../../src/runtime/index.ts";

const chunkSize = 256 * 1024;
const chunk = new Uint8Array(chunkSize).fill(120);
const eventsPerPull = 64;

function streamBytes(total: number): ReadableStream<Uint8Array> {
  let remaining = total;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (remaining <= 0) {
        controller.close();
        return;
      }
      const size = Math.min(remaining, chunkSize);
      controller.enqueue(size === chunkSize ? chunk : chunk.subarray(0, size));
      remaining -= size;
    },
  });
}

function streamEvents(count: number): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  let sent = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      const end = Math.min(count, sent + eventsPerPull);
      for (; sent < end; sent++) {
        controller.enqueue(encoder.encode(`data: event ${sent}\n\n`));
      }
      if (sent >= count) controller.close();
    },
  });
}

async function countBody(body: ReadableStream<Uint8Array> | null): Promise<number> {
  if (!body) return 0;
  let total = 0;
  for await (const part of body) total += part.byteLength;
  return total;
}

function readCount(url: URL, fallback: number): number {
  const value = Number(url.searchParams.get("n") ?? fallback);
  return Number.isSafeInteger(value) && value >= 0 ? value : fallback;
}

const echo: ServerSocketHandlers = {
  open() {},
  message(socket, data) {
    socket.send(data);
  },
  close() {},
  drain() {},
};

const server = runtime.serve({
  hostname: process.env["HOST"] ?? "127.0.0.1",
  port: Number(process.env["PORT"] ?? 0),
  idleTimeout: 0,
  async handler(request, context) {
    const url = new URL(request.url);

    switch (url.pathname) {
      case "/":
        return new Response("hello, bench\n", { headers: { "content-type": "text/plain" } });
      case "/bytes":
        return new Response(streamBytes(readCount(url, 0)), {
          headers: { "content-type": "application/octet-stream" },
        });
      case "/upload":
        return new Response(`${await countBody(request.body)}\n`);
      case "/sse":
        return new Response(streamEvents(readCount(url, 1000)), {
          headers: { "content-type": "text/event-stream", "cache-control": "no-cache" },
        });
      case "/ws":
        return (
          context.upgrade({ handlers: echo }) ??
            new Response("expected a WebSocket upgrade\n", { status: 426 })
        );
      default:
        return new Response("not found\n", { status: 404 });
    }
  },
});

process.stdout.write(`${server.port}\n`);
