/** Relays a WebSocket between a client and an upstream. */
import type { RequestContext } from "../runtime/index.ts";
import type { ExchangeHooks, ProxyOptions, Upstream } from "./types.ts";

/** Returns true for a request asking to upgrade to WebSocket. */
export function isWebSocketUpgrade(request: Request): boolean {
  const upgrade = request.headers.get("upgrade");
  if (upgrade === null) return false;
  return upgrade.split(",").some((token) => token.trim().toLowerCase() === "websocket");
}

export function proxyWebSocket(
  _request: Request,
  _context: RequestContext,
  _upstream: Upstream,
  _options: ProxyOptions,
  hooks: ExchangeHooks,
): Promise<Response> {
  hooks.onEnd(501);
  return Promise.resolve(new Response("Not Implemented\n", { status: 501 }));
}
