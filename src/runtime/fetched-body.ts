/**
 * Hands a `fetch` response on as `Runtime.fetchUpstream` promises: bodies of
 * a known length up to the limit are read whole, longer ones are wrapped to
 * report when they end. Adapters whose upstream client is `fetch` use it.
 */
import { getLogger } from "../log.ts";
import type { UpstreamRequest } from "./types.ts";

const log = getLogger("runtime");

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
 * Returns `response` with the headers that `request.responseHeaders` makes
 * and its body read whole or watched, calling `request.onBodyEnd`. `signal`
 * is the one the fetch was made with.
 */
export async function deliverFetched(
  response: Response,
  request: UpstreamRequest,
  upstream: string,
  signal: AbortSignal,
): Promise<Response> {
  const status = response.status;
  const init: ResponseInit = {
    status,
    statusText: response.statusText,
    headers: request.responseHeaders([...response.headers]),
  };
  const body = response.body;
  if (body === null || request.method === "HEAD") {
    request.onBodyEnd(status, 0, false);
    return new Response(body, init);
  }
  if (fixedLength(response.headers) <= request.bufferLimit) {
    // A failure here rejects, as a failure before the response head does.
    const bytes = await response.arrayBuffer();
    request.onBodyEnd(status, bytes.byteLength, false);
    return new Response(bytes, init);
  }

  const watched = watchBody(
    body,
    upstream,
    signal,
    (bytes, truncated) => request.onBodyEnd(status, bytes, truncated),
  );
  return new Response(watched, init);
}

/**
 * Wraps a response body to learn when it ends: read to the end, cancelled by
 * the client, or failed upstream. `onEnd` receives the number of bytes handed
 * to the server, which after a disconnect may exceed what the client got,
 * and whether the body ended before its last byte. The wrapper pulls one
 * chunk per read from the client side, so backpressure passes through.
 */
function watchBody(
  body: ReadableStream<Uint8Array>,
  upstream: string,
  signal: AbortSignal,
  onEnd: (bytes: number, truncated: boolean) => void,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let ended = false;
  let bytes = 0;
  const end = (truncated: boolean) => {
    if (ended) return;
    ended = true;
    signal.removeEventListener("abort", endTruncated);
    onEnd(bytes, truncated);
  };
  const endTruncated = () => end(true);
  // Covers a disconnect while no read is pending, in case the server stops
  // pulling without cancelling the stream.
  signal.addEventListener("abort", endTruncated, { once: true });

  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        let chunk: Awaited<ReturnType<typeof reader.read>>;
        try {
          chunk = await reader.read();
        } catch (error) {
          // Erroring the stream makes the server cut the client connection,
          // so the client sees a truncated body rather than a short success.
          if (!ended) log.warn("upstream response failed", { upstream, error });
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
