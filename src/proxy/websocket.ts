/**
 * Proxies a WebSocket upgrade: the upstream WebSocket is opened first, then
 * the client's upgrade is accepted and messages are relayed both ways.
 */
import { getLogger } from "../log.ts";
import { type RequestContext, runtime } from "../runtime/index.ts";
import { probeTcp } from "../vm/probe.ts";
import { defaultConnectTimeoutMs } from "./connect.ts";
import { upstreamRequestHeaders } from "./headers.ts";
import {
  badGateway,
  badRequest,
  clientClosedRequest,
  clientGoneResponse,
  gatewayTimeout,
} from "./responses.ts";
import {
  type ExchangeHooks,
  formatUpstream,
  type ProxyOptions,
  type Upstream,
  UpstreamConnectError,
} from "./types.ts";
import { pathAndQuery } from "./url.ts";
import { WebSocketRelay } from "./relay.ts";

const log = getLogger("proxy");

/**
 * Timeout of the TCP probe that distinguishes a refused upstream from one
 * that rejected the upgrade, in ms. The WebSocket API reports every failure the
 * same way, so the probe runs after a failed handshake.
 */
const probeTimeoutMs = 2_000;

/** Default for `ProxyOptions.webSocketBufferLimit`: 32 MiB. */
export const defaultWebSocketBufferLimit = 32 * 1024 * 1024;

/** Returns true for a request asking to upgrade to WebSocket. */
export function isWebSocketUpgrade(request: Request): boolean {
  const upgrade = request.headers.get("upgrade");
  if (upgrade === null) return false;
  return upgrade.split(",").some((token) => token.trim().toLowerCase() === "websocket");
}

export async function proxyWebSocket(
  request: Request,
  context: RequestContext,
  upstream: Upstream,
  options: ProxyOptions,
  hooks: ExchangeHooks,
): Promise<Response> {
  // Checked before connecting upstream, so a malformed handshake costs no upstream connection.
  if (request.method !== "GET" || !request.headers.get("sec-websocket-key")) {
    hooks.onEnd(400);
    return badRequest("Bad Request: invalid WebSocket handshake");
  }

  const url = `ws://${formatUpstream(upstream)}${pathAndQuery(request.url)}`;
  const headers = upstreamRequestHeaders(request.headers, {
    peer: context.remoteAddress,
    proto: options.proto,
    trustedProxies: options.trustedProxies,
    webSocket: true,
  });
  const protocols = splitList(request.headers.get("sec-websocket-protocol"));
  const socket = runtime.connectWebSocket(url, { protocols, headers });

  // The relay listens from the start, so messages the upstream sends before
  // the client side opens are queued rather than lost.
  const relay = new WebSocketRelay(socket, {
    bufferLimit: options.webSocketBufferLimit ?? defaultWebSocketBufferLimit,
    upstream: formatUpstream(upstream),
    onEnd: () => hooks.onEnd(101),
  });

  const deadline = new HandshakeDeadline(upstream, options);
  const outcome = await relay.upstreamOpened(
    AbortSignal.any([context.clientGone, deadline.signal]),
  );
  deadline.stop();
  if (outcome === "client gone") {
    relay.abandon();
    if (context.clientGone.aborted) {
      hooks.onEnd(clientClosedRequest);
      return clientGoneResponse();
    }
    if (deadline.passed === "connect") throw new UpstreamConnectError(upstream);

    log.warn("upstream websocket handshake timed out", {
      upstream: formatUpstream(upstream),
      timeout_ms: options.responseTimeoutMs,
    });
    hooks.onEnd(504);
    return gatewayTimeout();
  }
  if (outcome === "failed") {
    relay.abandon();
    if (!(await probeTcp(upstream.hostname, upstream.port, probeTimeoutMs))) {
      throw new UpstreamConnectError(upstream);
    }

    log.warn("upstream websocket handshake failed", { upstream: formatUpstream(upstream) });
    hooks.onEnd(502);
    return badGateway();
  }

  // NOTE: Extensions are negotiated per hop, not end to end. The relay
  // handles whole messages, so each connection negotiates its own: on Bun
  // 1.4.5 the server side accepts none and the client side offers
  // permessage-deflate. Passing the upstream's choice on would make the
  // client compress frames that the server side cannot inflate.
  const response = context.upgrade({
    ...(socket.protocol === "" ? {} : { protocol: socket.protocol }),
    handlers: relay.clientHandlers,
  });
  if (!response) {
    relay.abandon();
    hooks.onEnd(400);
    return badRequest("Bad Request: invalid WebSocket handshake");
  }
  return response;
}

/** Splits a comma-separated header value into its trimmed, non-empty items. */
function splitList(value: string | null): string[] {
  if (value === null) return [];
  return value.split(",").map((item) => item.trim()).filter((item) => item !== "");
}

/**
 * Deadlines of an upstream WebSocket handshake. After `connectTimeoutMs`
 * without a response, a fresh TCP connection must open within the same time,
 * as for HTTP requests, or the deadline passes as "connect". The handshake's
 * response must also come within `responseTimeoutMs`, or the deadline passes
 * as "response". `signal` aborts when either passes.
 */
class HandshakeDeadline {
  readonly #controller = new AbortController();
  readonly #timers: ReturnType<typeof setTimeout>[] = [];
  passed: "connect" | "response" | undefined;

  constructor(upstream: Upstream, options: ProxyOptions) {
    const connectMs = options.connectTimeoutMs ?? defaultConnectTimeoutMs;
    this.#timers.push(setTimeout(async () => {
      const open = await probeTcp(upstream.hostname, upstream.port, connectMs);
      if (!open) this.#pass("connect");
    }, connectMs));
    if (options.responseTimeoutMs !== undefined) {
      this.#timers.push(setTimeout(() => this.#pass("response"), options.responseTimeoutMs));
    }
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** Ends both deadlines, once the handshake is over. */
  stop(): void {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.length = 0;
  }

  #pass(which: "connect" | "response"): void {
    if (this.passed !== undefined || this.#timers.length === 0) return;
    this.passed = which;
    this.#controller.abort();
  }
}
