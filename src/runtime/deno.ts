/**
 * The Deno runtime adapter: `Deno.serve`, `Deno.createHttpClient` and
 * `Deno.addSignalListener`. Behaviour was checked on Deno 2.9.6.
 *
 * Limits against the Bun adapter, each a Deno 2.9.6 limit:
 * - HTTPS serves one certificate: `Deno.serve` takes a single cert/key pair
 *   and has no SNI callback, so `serverName` entries are not used.
 * - `reusePort` with TLS needs the `--unstable-net` flag (set in deno.json).
 * - `stop(false)` lets HTTP responses finish, but Deno closes open
 *   WebSockets with code 1001 during a graceful shutdown.
 * - `idleTimeout` is not configurable: `Deno.serve` exposes no idle timeout.
 * - WebSocket extensions are not negotiated on either side.
 * - Upstreams are asked for `Accept-Encoding: identity` (see `fetchUpstream`),
 *   so clients get uncompressed bodies unless the upstream compresses anyway.
 */
import { getLogger } from "../log.ts";
import { formatAuthority } from "./authority.ts";
import { deliverFetched } from "./fetched-body.ts";
import { ServerStoppedError } from "./stopped.ts";
import type {
  OriginFetchOptions,
  RequestContext,
  RunningServer,
  Runtime,
  ServeOptions,
  ServerSocket,
  ServerSocketHandlers,
  TlsCertificate,
  UpstreamRequest,
  UpstreamSocketOptions,
} from "./types.ts";

const log = getLogger("runtime");

/** Bytes queued on a client WebSocket above which `send` reports backpressure. */
const socketHighWaterMark = 1024 * 1024;

/** How often a socket under backpressure checks whether its queue drained, in ms. */
const drainPollMs = 10;

// Close codes that RFC 6455 section 7.4.1 reserves for reporting and forbids
// sending in a Close frame.
const unsendableCloseCodes = new Set([1005, 1006, 1015]);

// ---------------------------------------------------------------------------
// Serving
// ---------------------------------------------------------------------------

function pickDefaultCertificate(tls: TlsCertificate[] | undefined): TlsCertificate | undefined {
  if (!tls || tls.length === 0) return undefined;
  return tls.find((pair) => pair.serverName === undefined) ?? tls[0];
}

function internalErrorResponse(): Response {
  return new Response("Internal Server Error\n", {
    status: 500,
    headers: { "content-type": "text/plain; charset=utf-8" },
  });
}

function payloadTooLargeResponse(): Response {
  return new Response("Payload Too Large\n", {
    status: 413,
    headers: { "content-type": "text/plain; charset=utf-8", connection: "close" },
  });
}

/** Returns a response whose body errors, so Deno ends the connection mid-response. */
function brokenResponse(): Response {
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.error(new ServerStoppedError());
    },
  });
  return new Response(body, { status: 503 });
}

/**
 * Enforces `maxRequestBodySize`, which `Deno.serve` has no option for. A
 * declared `Content-Length` over the limit is rejected with 413 at once. A
 * chunked body is counted as it streams and errors past the limit.
 */
function limitRequestBody(request: Request, maxBytes: number | undefined): Request | Response {
  if (maxBytes === undefined || request.body === null) return request;

  const declared = request.headers.get("content-length");
  if (declared !== null) {
    return Number(declared) > maxBytes ? payloadTooLargeResponse() : request;
  }

  // NOTE: a chunked body that passes the limit makes the upstream fetch fail
  // mid-upload, so the client sees the proxy's upstream error status, not 413.
  let received = 0;
  const counter = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      received += chunk.byteLength;
      if (received > maxBytes) {
        controller.error(new RangeError(`request body exceeds ${maxBytes} bytes`));
        return;
      }
      controller.enqueue(chunk);
    },
  });
  return new Request(request, { body: request.body.pipeThrough(counter) });
}

function wrapSocket(ws: WebSocket, handlers: ServerSocketHandlers): ServerSocket {
  let drainTimer: ReturnType<typeof setInterval> | undefined;

  const stopDrainWatch = () => {
    if (drainTimer !== undefined) clearInterval(drainTimer);
    drainTimer = undefined;
  };

  // Deno's WebSocket has no drain event, so a socket under backpressure polls
  // `bufferedAmount` until the queue is back under the high-water mark.
  const startDrainWatch = () => {
    if (drainTimer !== undefined) return;
    drainTimer = setInterval(() => {
      if (ws.readyState !== WebSocket.OPEN) {
        stopDrainWatch();
        return;
      }
      if (ws.bufferedAmount > socketHighWaterMark) return;
      stopDrainWatch();
      handlers.drain(socket);
    }, drainPollMs);
  };

  const socket: ServerSocket = {
    send(data) {
      if (ws.readyState !== WebSocket.OPEN) return false;
      ws.send(data);
      if (ws.bufferedAmount <= socketHighWaterMark) return true;
      startDrainWatch();
      return false;
    },
    close(code, reason) {
      const sendableCode = code === undefined || unsendableCloseCodes.has(code) ? 1000 : code;
      try {
        ws.close(sendableCode, reason);
      } catch (error) {
        log.warn("websocket close failed", { code, error });
        ws.close();
      }
    },
    get bufferedAmount() {
      return ws.bufferedAmount;
    },
  };

  ws.binaryType = "arraybuffer";
  ws.onopen = () => handlers.open(socket);
  ws.onmessage = (event: MessageEvent<string | ArrayBuffer>) => {
    const data = typeof event.data === "string" ? event.data : new Uint8Array(event.data);
    handlers.message(socket, data);
  };
  ws.onclose = (event) => {
    stopDrainWatch();
    handlers.close(socket, event.code, event.reason);
  };
  return socket;
}

/**
 * Returns a signal that aborts when the client disconnects before its
 * response was delivered.
 *
 * Without `--unstable-no-legacy-abort`, Deno 2.9.6 also aborts
 * `request.signal` after every normal response, and after a WebSocket
 * upgrade. In those cases `info.completed` has settled by the time a
 * microtask queued from the abort event runs, while after a disconnect it
 * has not, so the abort is passed on only in the second case.
 */
function watchClient(
  request: Request,
  completed: Promise<void>,
  clientGone: AbortController,
): AbortSignal {
  let delivered = false;
  const markDelivered = () => {
    delivered = true;
  };
  completed.then(markDelivered, markDelivered);

  request.signal.addEventListener(
    "abort",
    () => {
      queueMicrotask(() => {
        if (!delivered) clientGone.abort(request.signal.reason);
      });
    },
    { once: true },
  );
  return clientGone.signal;
}

function serve(options: ServeOptions): RunningServer {
  const shutdown = new AbortController();
  let shuttingDown = false;
  /** Set when a forced stop begins, for `RequestContext.stoppedByServer`. */
  let forcedStop = false;
  // One controller per request whose response is not complete yet, so that a
  // forced stop after `shutdown()` can end them.
  const unfinished = new Set<AbortController>();

  const handler = (request: Request, info: Deno.ServeHandlerInfo<Deno.NetAddr>) => {
    const clientGone = new AbortController();
    unfinished.add(clientGone);
    const finish = () => {
      unfinished.delete(clientGone);
    };
    info.completed.then(finish, finish);

    const limited = limitRequestBody(request, options.maxRequestBodySize);
    if (limited instanceof Response) return limited;

    const context: RequestContext = {
      remoteAddress: info.remoteAddr.hostname,
      // Deno.serve has no per-request idle timeout that could cut a stream.
      disableTimeout: () => {},
      upgrade(upgradeOptions) {
        // `Deno.upgradeWebSocket` takes over the request, so it must see the
        // original one, and callers read headers before calling `upgrade`.
        let upgraded: { socket: WebSocket; response: Response };
        try {
          upgraded = Deno.upgradeWebSocket(request, {
            ...(upgradeOptions.protocol ? { protocol: upgradeOptions.protocol } : {}),
          });
        } catch (error) {
          log.debug("websocket upgrade rejected", { error });
          return undefined;
        }
        wrapSocket(upgraded.socket, upgradeOptions.handlers);
        return upgraded.response;
      },
      clientGone: watchClient(request, info.completed, clientGone),
      get stoppedByServer() {
        return forcedStop;
      },
    };
    const response = options.handler(limited, context);
    if (response instanceof Response) return response;
    // A forced stop after `shutdown()` cannot drop the connection, so a
    // handler still waiting gets a response whose body fails at once, which
    // cuts the connection before the body.
    const stopped = new Promise<Response>((resolve) => {
      clientGone.signal.addEventListener("abort", () => {
        if (shuttingDown) resolve(brokenResponse());
      }, { once: true });
    });
    return Promise.race([response, stopped]);
  };

  const baseOptions = {
    hostname: options.hostname,
    port: options.port,
    reusePort: options.reusePort ?? false,
    signal: shutdown.signal,
    onListen: () => {},
    onError: (error: unknown) => {
      // The body of `brokenResponse` fails on purpose during a forced stop.
      if (error instanceof ServerStoppedError) return internalErrorResponse();
      log.error("request handler failed", { error });
      return internalErrorResponse();
    },
  };
  const certificate = pickDefaultCertificate(options.tls);
  const server = certificate
    ? Deno.serve({ ...baseOptions, cert: certificate.cert, key: certificate.key }, handler)
    : Deno.serve(baseOptions, handler);

  return {
    hostname: server.addr.hostname,
    port: server.addr.port,
    async stop(closeActive) {
      // Aborting the server's signal drops every connection at once, while
      // `shutdown()` stops accepting and waits for responses in flight.
      if (closeActive) forcedStop = true;
      if (!closeActive) {
        shuttingDown = true;
        await server.shutdown();
      } else if (!shuttingDown) {
        shuttingDown = true;
        shutdown.abort();
      } else {
        // Deno 2.9.6 throws an uncatchable BadResource from the abort
        // listener once `shutdown()` has begun. Aborting each unfinished
        // request's `clientGone` instead makes the proxy cancel its upstream
        // request, which ends the response.
        for (const controller of unfinished) controller.abort(new ServerStoppedError());
      }
      await server.finished;
    },
    get pendingRequests() {
      return unfinished.size;
    },
  };
}

// ---------------------------------------------------------------------------
// Upstream requests
// ---------------------------------------------------------------------------

// Deno's fetch drops a caller-set Host header unless the client allows it.
const upstreamClient = Deno.createHttpClient({ allowHost: true });

/**
 * Sends a proxied request with `Accept-Encoding: identity`. Deno 2.9.6's fetch
 * decodes gzip and br bodies for any other Accept-Encoding, including none,
 * yet keeps `Content-Encoding` and `Content-Length`, so relaying that response
 * would label plain bytes as compressed and cut the body at the compressed
 * length. With exactly `identity` it decodes nothing: an upstream that
 * compresses anyway is relayed byte for byte with its headers.
 */
/**
 * Returns a stream that passes the request body on and calls
 * `onRequestSent` once fetch has read all of it. Fetch may hold the last
 * bytes in its buffers for a moment longer.
 */
function sentWatch(request: UpstreamRequest): TransformStream<Uint8Array, Uint8Array> {
  return new TransformStream<Uint8Array, Uint8Array>({
    flush() {
      request.onRequestSent?.();
    },
  });
}

async function fetchUpstream(request: UpstreamRequest): Promise<Response> {
  const headers = new Headers(request.headers);
  headers.set("accept-encoding", "identity");
  const cancelled = new AbortController();
  request.cancel = (reason) => cancelled.abort(reason);
  const signal = AbortSignal.any([request.signal, cancelled.signal]);

  const authority = formatAuthority(request.hostname, request.port);
  let body = request.body;
  if (body === null) {
    request.onRequestSent?.();
  } else if (request.onRequestSent !== undefined && !headers.has("content-length")) {
    // NOTE: a body with a declared length is passed on as it is, because
    // Deno 2.9.6's fetch sends a wrapped stream chunked. No callback then
    // reports when it was sent, so such a request has no response timeout.
    body = body.pipeThrough(sentWatch(request));
  }
  const response = await fetch(`http://${authority}${request.target}`, {
    method: request.method,
    headers,
    body,
    redirect: "manual",
    client: upstreamClient,
    signal,
  });
  return await deliverFetched(response, request, authority, signal);
}

// One client per socket path, so connections to the same socket are pooled.
const unixClients = new Map<string, Deno.HttpClient>();

function unixClient(path: string): Deno.HttpClient {
  let client = unixClients.get(path);
  if (!client) {
    client = Deno.createHttpClient({ allowHost: true, proxy: { transport: "unix", path } });
    unixClients.set(path, client);
  }
  return client;
}

function createFetch(options: OriginFetchOptions): typeof fetch {
  // Both clients honour a caller-set Host, as Bun's fetch does.
  const client = options.unixSocket === undefined ? upstreamClient : unixClient(options.unixSocket);
  return (input: string | URL | Request, init?: RequestInit) => fetch(input, { ...init, client });
}

/** Returns whether the WHATWG WebSocket `close()` accepts `code` (1000 or 3000-4999). */
function isClientCloseCode(code: number): boolean {
  return code === 1000 || (code >= 3000 && code <= 4999);
}

function connectWebSocket(url: string, options: UpstreamSocketOptions): WebSocket {
  const socket = new WebSocket(url, {
    client: upstreamClient,
    ...(options.headers ? { headers: options.headers } : {}),
    ...(options.protocols && options.protocols.length > 0 ? { protocols: options.protocols } : {}),
  });

  // Deno's client WebSocket throws on codes such as 1001 that Bun's sends, so
  // those are sent as 1000 with the reason kept.
  const close = socket.close.bind(socket);
  socket.close = (code?: number, reason?: string) => {
    if (code === undefined || isClientCloseCode(code)) return close(code, reason);
    close(1000, reason);
  };
  return socket;
}

function onSignal(signal: Deno.Signal, listener: () => void): () => void {
  Deno.addSignalListener(signal, listener);
  return () => Deno.removeSignalListener(signal, listener);
}

export const denoRuntime: Runtime = {
  name: "deno",
  serve,
  fetchUpstream,
  createFetch,
  connectWebSocket,
  onSignal,
};
