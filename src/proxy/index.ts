/**
 * The streaming HTTP and WebSocket proxy that the router calls once it has
 * chosen the VM that serves a request.
 */
import type { RequestContext } from "../runtime/index.ts";
import { proxyHttp } from "./http.ts";
import type { ExchangeHooks, ProxyOptions, Upstream } from "./types.ts";
import { isWebSocketUpgrade, proxyWebSocket } from "./websocket.ts";

export { parseTrustedProxies, type TrustedProxies } from "./trusted.ts";
export {
  type ExchangeHooks,
  type ProxyOptions,
  type Upstream,
  UpstreamConnectError,
} from "./types.ts";
export { bufferedBodyLimit, proxyHttp } from "./http.ts";
export { isWebSocketUpgrade, proxyWebSocket } from "./websocket.ts";

/**
 * Sends a request to the upstream and returns the response to hand to the
 * client, streaming both bodies. A WebSocket upgrade is relayed message by
 * message once the upstream accepted it. Upstream failures after connecting
 * become a 502 with a short body, and `hooks.onEnd` fires once when the
 * exchange is over. Rejects with `UpstreamConnectError` when no connection
 * could be made, before anything was sent to the client.
 */
export function proxyRequest(
  request: Request,
  context: RequestContext,
  upstream: Upstream,
  options: ProxyOptions,
  hooks: ExchangeHooks,
): Promise<Response> {
  if (isWebSocketUpgrade(request)) {
    return proxyWebSocket(request, context, upstream, options, hooks);
  }
  return proxyHttp(request, context, upstream, options, hooks);
}
