/**
 * The Bun runtime adapter: `Bun.serve`, Bun's `fetch` extensions and
 * process signals.
 */
import type { Server, ServerWebSocket as BunSocket } from "bun";
import { getLogger } from "../log.ts";
import { UpstreamClient } from "./bun-upstream.ts";
import type {
  RequestContext,
  RunningServer,
  Runtime,
  ServeOptions,
  ServerSocket,
  ServerSocketHandlers,
  UpgradeOptions,
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

type BunServer = Server<SocketData>;

/**
 * The context of one request. A class rather than an object of closures,
 * because one is made for every request and almost none upgrade.
 */
class BunRequestContext implements RequestContext {
  readonly remoteAddress: string;
  readonly #request: Request;
  readonly #server: BunServer;
  readonly #stopState: { forced: boolean };

  constructor(request: Request, server: BunServer, stopState: { forced: boolean }) {
    // Read now, because after the client disconnects `requestIP` returns
    // null, and the access log line is written when the exchange ends.
    this.remoteAddress = server.requestIP(request)?.address ?? "";
    this.#request = request;
    this.#server = server;
    this.#stopState = stopState;
  }

  get clientGone(): AbortSignal {
    return this.#request.signal;
  }

  get stoppedByServer(): boolean {
    return this.#stopState.forced;
  }

  disableTimeout(): void {
    this.#server.timeout(this.#request, 0);
  }

  upgrade(upgradeOptions: UpgradeOptions): Response | undefined {
    const headers = new Headers();
    if (upgradeOptions.protocol) headers.set("sec-websocket-protocol", upgradeOptions.protocol);
    if (upgradeOptions.extensions) {
      headers.set("sec-websocket-extensions", upgradeOptions.extensions);
    }
    const upgraded = this.#server.upgrade(this.#request, {
      data: { handlers: upgradeOptions.handlers },
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
/** Maximum wait after a forced stop for cut handlers to return, in ms. */
const cutHandlerWaitMs = 1000;

function serve(options: ServeOptions): RunningServer {
  const tls = options.tls?.map((pair) => ({
    cert: pair.cert,
    key: pair.key,
    ...(pair.serverName === undefined ? {} : { serverName: pair.serverName }),
  }));
  // Bun 1.4.5's `stop(true)` aborts `request.signal` with a plain AbortError.
  // This flag, read through `stoppedByServer`, separates that abort from a
  // client's without a second signal per request on the hot path.
  const stopState = { forced: false };
  // Handlers that have not yet returned a response, counted with one shared
  // callback so the hot path makes no closure per request.
  let unfinished = 0;
  const handlerSettled = () => {
    unfinished--;
  };

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
      const context = new BunRequestContext(request, bunServer, stopState);
      const response = options.handler(request, context);
      if (response instanceof Response) return response;
      unfinished++;
      response.then(handlerSettled, handlerSettled);
      return response;
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
    async stop(closeActive) {
      if (!closeActive) return server.stop(false);

      stopState.forced = true;
      await server.stop(true);
      // Waits, as Deno's `server.finished` does, for the cut handlers to end,
      // so their access log lines are written before the caller goes on.
      const deadline = performance.now() + cutHandlerWaitMs;
      while (unfinished > 0 && performance.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    },
    get pendingRequests() {
      return server.pendingRequests;
    },
  };
}

/** The pool of upstream connections shared by every listener in the process. */
const upstreamClient = new UpstreamClient();

function createFetch(options: { unixSocket?: string }): typeof fetch {
  const socketPath = options.unixSocket;
  if (socketPath === undefined) return fetch;

  const unixFetch = (input: string | URL | Request, init?: RequestInit) =>
    fetch(input, { ...init, unix: socketPath } as RequestInit);
  return Object.assign(unixFetch, { preconnect: fetch.preconnect });
}

function connectWebSocket(url: string, options: UpstreamSocketOptions): WebSocket {
  const headers: Record<string, string> = {};
  for (const [name, value] of options.headers ?? []) {
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
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
  fetchUpstream: (request) => upstreamClient.send(request),
  createFetch,
  connectWebSocket,
  onSignal,
};
