/** Proxies one HTTP request to an upstream and streams the response back. */
import { getLogger } from "../log.ts";
import { runtime } from "../runtime/index.ts";
import type { RequestContext } from "../runtime/index.ts";
import { defaultConnectTimeoutMs, watchConnect } from "./connect.ts";
import { cleanResponseHeaders, upstreamRequestHeaders } from "./headers.ts";
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
 * the only way there to keep the length. It also shows when the VM finished
 * sending. Larger and unknown-length bodies are streamed and lose the length
 * on Bun. Default 1 MiB, so 100 such downloads at once hold at most 100 MiB.
 */
export const bufferedBodyLimit = 1024 * 1024;

export async function proxyHttp(
  request: Request,
  context: RequestContext,
  upstream: Upstream,
  options: ProxyOptions,
  hooks: ExchangeHooks,
): Promise<Response> {
  const url = `http://${formatUpstream(upstream)}${pathAndQuery(request.url)}`;
  const headers = upstreamRequestHeaders(request.headers, {
    peer: context.remoteAddress,
    proto: options.proto,
    trustedProxies: options.trustedProxies,
    webSocket: false,
  });

  const connect = watchConnect(
    upstream,
    options.connectTimeoutMs ?? defaultConnectTimeoutMs,
    context.clientGone,
  );
  let response: Response;
  try {
    response = await runtime.fetchUpstream(url, {
      method: request.method,
      headers,
      body: request.body,
      // Aborts the upstream request, and its response body, when the client
      // disconnects, and the request when the upstream takes no connection.
      signal: connect.signal,
    });
  } catch (error) {
    if (context.clientGone.aborted) {
      hooks.onEnd(clientClosedRequest);
      return clientGoneResponse();
    }
    if (connect.signal.aborted || isConnectFailure(error)) {
      throw new UpstreamConnectError(upstream, { cause: error });
    }

    log.warn("upstream request failed", { upstream: formatUpstream(upstream), error });
    hooks.onEnd(502);
    return badGateway();
  } finally {
    connect.stop();
  }

  const status = response.status;
  response = withCleanHeaders(response);

  const body = response.body;
  if (body === null || request.method === "HEAD") {
    hooks.onEnd(status, 0);
    return response;
  }
  if (fixedLength(response.headers) <= bufferedBodyLimit) {
    return bufferBody(response, upstream, context, hooks);
  }

  // A streaming body (SSE, chunked, a long download) may stay quiet for longer
  // than the listener's idle timeout, so the client decides when to give up.
  context.disableTimeout();
  // NOTE: On Bun 1.4.5 a response built from a JavaScript ReadableStream goes
  // out chunked, so bodies above bufferedBodyLimit lose their Content-Length.
  const watched = watchBody(
    body,
    upstream,
    context.clientGone,
    (bytes, truncated) => hooks.onEnd(status, bytes, truncated),
  );
  return new Response(watched, {
    status,
    statusText: response.statusText,
    headers: response.headers,
  });
}

/**
 * Returns the body length that `Content-Length` declares, or infinity when
 * the body is chunked or its length is missing or invalid.
 */
function fixedLength(headers: Headers): number {
  if (headers.has("transfer-encoding")) return Number.POSITIVE_INFINITY;
  const value = headers.get("content-length");
  if (value === null || !/^\d+$/.test(value)) return Number.POSITIVE_INFINITY;
  return Number(value);
}

/**
 * Reads a fixed-length body whole and returns it as a response of known
 * length. The exchange is over once the VM has sent the last byte. When the
 * upstream fails before that, the client gets a 502 instead of a short body.
 */
async function bufferBody(
  response: Response,
  upstream: Upstream,
  context: RequestContext,
  hooks: ExchangeHooks,
): Promise<Response> {
  let bytes: ArrayBuffer;
  try {
    bytes = await response.arrayBuffer();
  } catch (error) {
    if (context.clientGone.aborted) {
      hooks.onEnd(clientClosedRequest);
      return clientGoneResponse();
    }
    log.warn("upstream response failed", { upstream: formatUpstream(upstream), error });
    hooks.onEnd(502);
    return badGateway();
  }

  hooks.onEnd(response.status, bytes.byteLength);
  return new Response(bytes, {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  });
}

/**
 * Cleans the response headers in place where the runtime allows it (Bun),
 * which keeps the original body and its Content-Length. Where fetch
 * responses have immutable headers (the Fetch standard, Deno), it copies.
 */
function withCleanHeaders(response: Response): Response {
  try {
    cleanResponseHeaders(response.headers);
    return response;
  } catch (error) {
    if (!(error instanceof TypeError)) throw error;
  }

  const headers = new Headers(response.headers);
  cleanResponseHeaders(headers);
  return new Response(response.body, {
    status: response.status,
    statusText: response.statusText,
    headers,
  });
}

/**
 * Wraps a response body to learn when it ends: read to the end, cancelled by
 * the client, or failed upstream. `onEnd` receives the number of bytes handed
 * to the server, which after a disconnect may exceed what the client got,
 * and whether the body ended before its last byte. The
 * wrapper pulls one chunk per read from the client side, so backpressure
 * passes through.
 */
function watchBody(
  body: ReadableStream<Uint8Array>,
  upstream: Upstream,
  clientGone: AbortSignal,
  onEnd: (bytes: number, truncated: boolean) => void,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let ended = false;
  let bytes = 0;
  const end = (truncated: boolean) => {
    if (ended) return;
    ended = true;
    clientGone.removeEventListener("abort", endTruncated);
    onEnd(bytes, truncated);
  };
  const endTruncated = () => end(true);
  // Covers a disconnect while no read is pending, in case the server stops
  // pulling without cancelling the stream.
  clientGone.addEventListener("abort", endTruncated, { once: true });

  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        let chunk: Awaited<ReturnType<typeof reader.read>>;
        try {
          chunk = await reader.read();
        } catch (error) {
          // Erroring the stream makes the server cut the client connection,
          // so the client sees a truncated body rather than a short success.
          if (!ended) {
            log.warn("upstream response failed", { upstream: formatUpstream(upstream), error });
          }
          end(true);
          controller.error(error);
          return;
        }

        if (chunk.done) {
          end(false);
          controller.close();
          return;
        }
        bytes += chunk.value.byteLength;
        controller.enqueue(chunk.value);
      },
      cancel(reason) {
        end(true);
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
}
