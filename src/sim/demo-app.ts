/**
 * The demo app that a simulated VM runs when its host group names no command:
 * a stand-in for a guest app, with endpoints that exercise a proxy.
 *
 *   GET  /            plain text with the VM's hostname and tags
 *   GET  /sse         server-sent events, ?interval= ms apart (default 1000), ?count= of them (default unlimited)
 *   GET  /ws          WebSocket echo that selects the first offered subprotocol; "/close CODE REASON" closes it
 *   POST /echo        streams the request body back
 *   GET  /bytes?n=    streams n bytes (chunked)
 *   GET  /file?n=     n bytes with Content-Length, at most 64 MiB
 *   GET  /headers     the request headers as JSON
 *   GET  /slow?ms=    responds after a delay
 *   GET  /redirect    302 to /
 *   GET  /cookies     sets two cookies
 *
 * Environment: PORT, HOST, VM_HOSTNAME and VM_TAGS (comma-separated).
 */
const hostname = process.env.VM_HOSTNAME ?? "demo";
const tags = (process.env.VM_TAGS ?? "").split(",").filter((tag) => tag !== "");
const chunkSize = 64 * 1024;

function readCount(url: URL, name: string, fallback: number): number {
  const text = url.searchParams.get(name);
  if (text === null) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0) {
    throw new RangeError(`invalid ${name} "${text}": use a non-negative integer`);
  }
  return value;
}

function eventStream(request: Request, url: URL): Response {
  const intervalMs = readCount(url, "interval", 1000);
  const count = readCount(url, "count", Number.POSITIVE_INFINITY);
  const encoder = new TextEncoder();
  let timer: ReturnType<typeof setInterval> | undefined;
  let sent = 0;

  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      const send = () => {
        sent += 1;
        const data = JSON.stringify({ n: sent, hostname, time: new Date().toISOString() });
        controller.enqueue(encoder.encode(`id: ${sent}\ndata: ${data}\n\n`));
        if (sent >= count) {
          clearInterval(timer);
          controller.close();
        }
      };
      if (count === 0) {
        controller.close();
        return;
      }
      send();
      if (sent < count) timer = setInterval(send, intervalMs);
      request.signal.addEventListener("abort", () => clearInterval(timer));
    },
    cancel() {
      clearInterval(timer);
    },
  });
  return new Response(body, {
    headers: { "content-type": "text/event-stream", "cache-control": "no-cache" },
  });
}

function byteStream(n: number): Response {
  let remaining = n;
  const chunk = new Uint8Array(chunkSize).fill(0x61);
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (remaining <= 0) {
        controller.close();
        return;
      }
      const size = Math.min(remaining, chunkSize);
      controller.enqueue(size === chunkSize ? chunk : chunk.slice(0, size));
      remaining -= size;
    },
  });
  return new Response(body, { headers: { "content-type": "application/octet-stream" } });
}

/** Largest body `/file` builds in memory, in bytes. */
const maxFileSize = 64 * 1024 * 1024;

function fixedBody(n: number): Response {
  if (n > maxFileSize) {
    throw new RangeError(`invalid n "${n}": use at most ${maxFileSize} bytes`);
  }
  return new Response(new Uint8Array(n).fill(0x61), {
    headers: { "content-type": "application/octet-stream" },
  });
}

Bun.serve({
  hostname: process.env.HOST ?? "127.0.0.1",
  port: Number(process.env.PORT ?? 8080),
  development: false,
  idleTimeout: 0,
  maxRequestBodySize: 2 ** 40,
  async fetch(request, bunServer) {
    const url = new URL(request.url);
    switch (url.pathname) {
      case "/":
        return new Response(`Hello from ${hostname}\ntags: ${tags.join(", ")}\n`, {
          headers: { "content-type": "text/plain; charset=utf-8" },
        });
      case "/sse":
        return eventStream(request, url);
      case "/ws": {
        const offered = request.headers.get("sec-websocket-protocol");
        const protocol = offered?.split(",")[0]?.trim();
        const headers = protocol ? { "sec-websocket-protocol": protocol } : undefined;
        if (bunServer.upgrade(request, { data: undefined, ...(headers ? { headers } : {}) })) {
          return undefined;
        }
        return new Response("expected a WebSocket upgrade\n", { status: 426 });
      }
      case "/echo": {
        const contentType = request.headers.get("content-type") ?? "application/octet-stream";
        return new Response(request.body, { headers: { "content-type": contentType } });
      }
      case "/bytes":
        return byteStream(readCount(url, "n", 0));
      case "/file":
        return fixedBody(readCount(url, "n", 0));
      case "/headers":
        return Response.json(Object.fromEntries(request.headers));
      case "/slow": {
        const ms = readCount(url, "ms", 1000);
        await new Promise((resolve) => setTimeout(resolve, ms));
        return new Response(`slept ${ms} ms\n`);
      }
      case "/redirect":
        return new Response(null, { status: 302, headers: { location: "/" } });
      case "/cookies": {
        const headers = new Headers({ "content-type": "text/plain" });
        headers.append("set-cookie", "first=1; Path=/");
        headers.append("set-cookie", "second=2; Path=/; HttpOnly");
        return new Response("two cookies\n", { headers });
      }
      default:
        return new Response("not found\n", { status: 404 });
    }
  },
  error(error) {
    const status = error instanceof RangeError ? 400 : 500;
    return new Response(`${error.message}\n`, { status });
  },
  websocket: {
    message(ws, message) {
      if (typeof message === "string" && message.startsWith("/close ")) {
        const [, code, ...reason] = message.split(" ");
        ws.close(Number(code), reason.join(" "));
        return;
      }
      ws.send(message);
    },
  },
});

// Exits once the simulator is gone (this process was re-parented), so a
// simulator killed by SIGKILL leaves no running app behind.
// NOTE: an app that is frozen at that moment stays frozen until killed by hand.
const simulatorPid = process.ppid;
setInterval(() => {
  if (process.ppid !== simulatorPid) process.exit(0);
}, 1000);

// Makes this file a module, so its names stay out of the global scope.
export {};
