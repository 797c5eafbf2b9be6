/**
 * Proxies a WebSocket upgrade: the upstream WebSocket is opened first, then
 * the client's upgrade is accepted and messages are relayed both ways.
 */
import { createConnection } from "node:net";
import { getLogger } from "../log.ts";
import { type RequestContext, runtime } from "../runtime/index.ts";
import { upstreamRequestHeaders } from "./headers.ts";
import { badGateway, badRequest, clientClosedRequest, clientGoneResponse } from "./responses.ts";
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

/** Timeout of the TCP probe that distinguishes a refused upstream from one that rejected the upgrade, in ms. */
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

  // NOTE: Unlike HTTP requests, the upgrade has no connect deadline, so an
  // address that drops SYNs keeps it waiting until the kernel gives up or the client leaves.
  const outcome = await relay.upstreamOpened(context.clientGone);
  if (outcome === "client gone") {
    relay.abandon();
    hooks.onEnd(clientClosedRequest);
    return clientGoneResponse();
  }
  if (outcome === "failed") {
    relay.abandon();
    if (!(await acceptsConnections(upstream))) throw new UpstreamConnectError(upstream);

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
 * Returns true when a TCP connection to the upstream succeeds. The WebSocket
 * API reports every failure the same way, so this probe, run only after a
 * failed handshake, distinguishes a VM that is not listening from an app that
 * rejected the upgrade.
 */
function acceptsConnections(upstream: Upstream): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createConnection({ host: upstream.hostname, port: upstream.port });
    const finish = (connected: boolean) => {
      probe.destroy();
      resolve(connected);
    };
    probe.setTimeout(probeTimeoutMs, () => finish(false));
    probe.once("connect", () => finish(true));
    probe.once("error", () => finish(false));
  });
}
