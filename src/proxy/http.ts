/** Proxies one HTTP request to an upstream and streams the response back. */
import { getLogger } from "../log.ts";
import { runtime } from "../runtime/index.ts";
import type { RequestContext, UpstreamRequest } from "../runtime/index.ts";
import { defaultConnectTimeoutMs, watchConnect } from "./connect.ts";
import { cleanResponseFields, upstreamRequestHeaders } from "./headers.ts";
import {
  badGateway,
  clientClosedRequest,
  clientGoneResponse,
  isConnectFailure,
} from "./responses.ts";
import {
  type ExchangeHooks,
  formatUpstream,
  type ProxyOptions,
  type Upstream,
  UpstreamConnectError,
} from "./types.ts";
import { pathAndQuery } from "./url.ts";

const log = getLogger("proxy");

/**
 * Largest `Content-Length`, in bytes, of a response body that is read whole
 * before it is sent on. Bun 1.4.5 sends any streamed response body chunked and
 * drops its `Content-Length` (oven-sh/bun#10507), so reading the body first is
 * the only way there to keep the length. Larger and unknown-length bodies are
 * streamed and lose the length on Bun. Default 1 MiB, so 100 such downloads
 * at once hold at most 100 MiB.
 */
export const bufferedBodyLimit = 1024 * 1024;

export async function proxyHttp(
  request: Request,
  context: RequestContext,
  upstream: Upstream,
  options: ProxyOptions,
  hooks: ExchangeHooks,
): Promise<Response> {
  let ended = false;
  const upstreamRequest: UpstreamRequest = {
    hostname: upstream.hostname,
    port: upstream.port,
    method: request.method,
    target: pathAndQuery(request.url),
    headers: upstreamRequestHeaders(request.headers, {
      peer: context.remoteAddress,
      proto: options.proto,
      trustedProxies: options.trustedProxies,
      webSocket: false,
    }),
    body: request.body,
    // Aborts the upstream request, and its response body, when the client
    // disconnects. A getter, so a runtime that makes the signal on first
    // access makes none for exchanges that never look at it.
    get signal() {
      return context.clientGone;
    },
    bufferLimit: bufferedBodyLimit,
    responseHeaders: cleanResponseFields,
    onBodyEnd(status, bytes, truncated) {
      ended = true;
      if (truncated && !context.clientGone.aborted) {
        log.warn("upstream response failed", { upstream: formatUpstream(upstream) });
      }
      hooks.onEnd(status, bytes, truncated);
    },
  };

  const connect = watchConnect(
    upstream,
    options.connectTimeoutMs ?? defaultConnectTimeoutMs,
    upstreamRequest,
  );
  let response: Response;
  try {
    response = await runtime.fetchUpstream(upstreamRequest);
  } catch (error) {
    if (context.clientGone.aborted) {
      hooks.onEnd(clientClosedRequest);
      return clientGoneResponse();
    }
    if (connect.timedOut || isConnectFailure(error)) {
      throw new UpstreamConnectError(upstream, { cause: error });
    }

    log.warn("upstream request failed", { upstream: formatUpstream(upstream), error });
    hooks.onEnd(502);
    return badGateway();
  } finally {
    connect.stop();
  }

  // A streaming body (SSE, chunked, a long download) may stay quiet for longer
  // than the listener's idle timeout, so the client decides when to give up.
  if (!ended) context.disableTimeout();
  return response;
}
