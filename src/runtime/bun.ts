/**
 * The Bun runtime adapter: `Bun.serve`, Bun's `fetch` extensions and
 * process signals.
 */
import type { Server, ServerWebSocket as BunSocket } from "bun";
import { getLogger } from "../log.ts";
import type {
  RequestContext,
  RunningServer,
  Runtime,
  ServeOptions,
  ServerSocket,
  ServerSocketHandlers,
  UpgradeOptions,
  UpstreamInit,
  UpstreamSocketOptions,
} from "./types.ts";

const log = getLogger("runtime");

interface SocketData {
  handlers: ServerSocketHandlers;
  socket?: ServerSocket;
}

function wrapSocket(ws: BunSocket<SocketData>): ServerSocket {
  const existing = ws.data.socket;
  if (existing) return existing;

  const socket: ServerSocket = {
    // Bun returns -1 when the frame was queued under backpressure and 0 when
    // it was dropped; both mean the caller must wait for `drain`.
    send: (data) => ws.send(data) > 0,
    close: (code, reason) => ws.close(code, reason),
    get bufferedAmount() {
      return ws.getBufferedAmount();
    },
  };
  ws.data.socket = socket;
  return socket;
}

/**
 * A request's context on Bun. A class rather than an object literal of
 * closures, because one is made for every request.
 */
class BunRequestContext implements RequestContext {
  readonly remoteAddress: string;
  readonly clientGone: AbortSignal;
  readonly #request: Request;
  readonly #server: Server<SocketData>;

  constructor(request: Request, server: Server<SocketData>) {
    this.#request = request;
    this.#server = server;
    // Read now, because after the client disconnects `requestIP` returns
    // null, and the access log line is written when the exchange ends.
    this.remoteAddress = server.requestIP(request)?.address ?? "";
    this.clientGone = request.signal;
  }

  disableTimeout(): void {
    this.#server.timeout(this.#request, 0);
  }

  upgrade(options: UpgradeOptions): Response | undefined {
    const headers = new Headers();
    if (options.protocol) headers.set("sec-websocket-protocol", options.protocol);
    if (options.extensions) headers.set("sec-websocket-extensions", options.extensions);
    const upgraded = this.#server.upgrade(this.#request, {
      data: { handlers: options.handlers },
      headers,
    });
    // Bun ignores the returned response once the upgrade succeeded.
    return upgraded ? new Response(null) : undefined;
  }
}

// NOTE: Bun.serve 1.4.5 sends no response at all to pipelined HTTP/1.1
// requests (two requests in one write) when the handler awaits a timer or I/O:
// the connection closes with zero bytes. A handler that returns at once, or
// after only microtasks, responds to both. The router always awaits the upstream.
function serve(options: ServeOptions): RunningServer {
  const tls = options.tls?.map((pair) => ({
    cert: pair.cert,
    key: pair.key,
    ...(pair.serverName === undefined ? {} : { serverName: pair.serverName }),
  }));

  const server = Bun.serve<SocketData>({
    hostname: options.hostname,
    port: options.port,
    reusePort: options.reusePort ?? false,
    development: false,
    // `2 ** 40` rather than `1 << 40`, which is 256 in JavaScript.
    maxRequestBodySize: options.maxRequestBodySize ?? 2 ** 40,
    idleTimeout: options.idleTimeout ?? 10,
    ...(tls && tls.length > 0 ? { tls } : {}),
    fetch(request, bunServer) {
      return options.handler(request, new BunRequestContext(request, bunServer));
    },
    error(error) {
      log.error("request handler failed", { error });
      return new Response("Internal Server Error\n", {
        status: 500,
        headers: { "content-type": "text/plain; charset=utf-8" },
      });
    },
    websocket: {
      // Relight relays frames as they are; compressing again costs CPU for nothing.
      perMessageDeflate: false,
      idleTimeout: 0,
      sendPings: true,
      open: (ws) => ws.data.handlers.open(wrapSocket(ws)),
      message: (ws, message) => {
        const data = typeof message === "string" ? message : new Uint8Array(message);
        ws.data.handlers.message(wrapSocket(ws), data);
      },
      close: (ws, code, reason) => ws.data.handlers.close(wrapSocket(ws), code, reason),
      drain: (ws) => ws.data.handlers.drain(wrapSocket(ws)),
    },
  });

  return {
    hostname: server.hostname ?? options.hostname,
    port: server.port ?? options.port,
    stop: (closeActive) => server.stop(closeActive),
    get pendingRequests() {
      return server.pendingRequests;
    },
  };
}

// NOTE: Bun 1.4.5's fetch adds `User-Agent: Bun/1.4.5` and `Accept: */*` when
// the client sent none. An empty value is sent as an empty header, not left
// out, and fetch has no option to drop them (node:http's client in Bun sends
// neither), so the upstream app receives two headers the client never sent.
function fetchUpstream(url: string, init: UpstreamInit): Promise<Response> {
  return fetch(url, {
    method: init.method,
    headers: init.headers,
    body: init.body,
    redirect: "manual",
    // Bun would otherwise decode the body but keep `Content-Encoding`.
    decompress: false,
    ...(init.body ? { duplex: "half" } : {}),
    ...(init.signal ? { signal: init.signal } : {}),
  } as RequestInit);
}

function createFetch(options: { unixSocket?: string }): typeof fetch {
  const socketPath = options.unixSocket;
  if (socketPath === undefined) return fetch;

  const unixFetch = (input: string | URL | Request, init?: RequestInit) =>
    fetch(input, { ...init, unix: socketPath } as RequestInit);
  return Object.assign(unixFetch, { preconnect: fetch.preconnect });
}

function connectWebSocket(url: string, options: UpstreamSocketOptions): WebSocket {
  const headers: Record<string, string> = {};
  options.headers?.forEach((value, name) => {
    headers[name] = value;
  });
  // Bun's WebSocket constructor accepts headers, which the standard one does not.
  const BunWebSocket = WebSocket as unknown as new (
    url: string,
    options: { headers: Record<string, string>; protocols?: string[] },
  ) => WebSocket;
  return new BunWebSocket(url, {
    headers,
    ...(options.protocols && options.protocols.length > 0 ? { protocols: options.protocols } : {}),
  });
}

function onSignal(signal: NodeJS.Signals, listener: () => void): () => void {
  process.on(signal, listener);
  return () => process.off(signal, listener);
}

export const bunRuntime: Runtime = {
  name: "bun",
  serve,
  fetchUpstream,
  createFetch,
  connectWebSocket,
  onSignal,
};
