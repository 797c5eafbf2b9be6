/** Proxies one HTTP request to an upstream and streams the response back. */
import { getLogger } from "../log.ts";
import { runtime } from "../runtime/index.ts";
import type { RequestContext, UpstreamRequest } from "../runtime/index.ts";
import { defaultConnectTimeoutMs, watchConnect } from "./connect.ts";
import { cleanResponseFields, upstreamRequestHeaders } from "./headers.ts";
import { type OverdueSweep, sweepsByDeadline, type Watched } from "../overdue.ts";
import {
  badGateway,
  clientClosedRequest,
  clientGoneResponse,
  gatewayTimeout,
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

/**
 * The request handed to the runtime's upstream client. A class, so a request
 * makes no closures, and so `signal` stays a getter: a runtime that makes the
 * client's signal on first access makes none for exchanges that never use it.
 */
class ProxiedRequest implements UpstreamRequest, Watched {
  readonly hostname: string;
  readonly port: number;
  readonly method: string;
  readonly target: string;
  readonly headers: [string, string][];
  readonly body: ReadableStream<Uint8Array> | null;
  cancel?: (reason: Error) => void;
  /** True once the response body ended, which for a body read whole is before the response. */
  ended = false;
  /** True once no response head came within the response timeout and the request was cancelled. */
  timedOut = false;
  /** `performance.now()` when the request was sent whole, for the response timeout. */
  startedAt = 0;
  watchIndex = -1;
  readonly #context: RequestContext;
  readonly #hooks: ExchangeHooks;
  readonly #responseSweep: OverdueSweep<ProxiedRequest> | undefined;
  /** True once the response head arrived or the request failed. */
  #settled = false;

  constructor(
    request: Request,
    context: RequestContext,
    upstream: Upstream,
    options: ProxyOptions,
    hooks: ExchangeHooks,
  ) {
    this.hostname = upstream.hostname;
    this.port = upstream.port;
    this.method = request.method;
    this.target = pathAndQuery(request.url);
    this.headers = upstreamRequestHeaders(request.headers, {
      peer: context.remoteAddress,
      proto: options.proto,
      trustedProxies: options.trustedProxies,
      webSocket: false,
    });
    this.body = request.body;
    this.#context = context;
    this.#hooks = hooks;
    this.#responseSweep = options.responseTimeoutMs === undefined
      ? undefined
      : responseSweepFor(options.responseTimeoutMs);
  }

  onRequestSent(): void {
    if (this.#responseSweep === undefined || this.#settled) return;
    this.startedAt = performance.now();
    this.#responseSweep.add(this);
  }

  /** Ends the response timeout, once the response head arrived or the request failed. */
  settle(): void {
    this.#settled = true;
    this.#responseSweep?.delete(this);
  }

  /** Cancels the request, which has had no response head for the response timeout. */
  timeOut(): void {
    if (this.#settled) return;
    this.timedOut = true;
    this.cancel?.(new Error("upstream sent no response head in time"));
  }

  /** Aborts the upstream request, and its response body, when the client disconnects. */
  get signal(): AbortSignal {
    return this.#context.clientGone;
  }

  get bufferLimit(): number {
    return bufferedBodyLimit;
  }

  responseHeaders(fields: [string, string][]): [string, string][] {
    return cleanResponseFields(fields);
  }

  onBodyEnd(status: number, bytes: number, truncated: boolean): void {
    this.ended = true;
    if (truncated && !this.#context.clientGone.aborted) {
      log.warn("upstream response failed", {
        upstream: formatUpstream({ hostname: this.hostname, port: this.port }),
      });
    }
    this.#hooks.onEnd(status, bytes, truncated);
  }
}

const responseSweepFor = sweepsByDeadline<ProxiedRequest>((request) => request.timeOut());

export async function proxyHttp(
  request: Request,
  context: RequestContext,
  upstream: Upstream,
  options: ProxyOptions,
  hooks: ExchangeHooks,
): Promise<Response> {
  const upstreamRequest = new ProxiedRequest(request, context, upstream, options, hooks);
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
    if (upstreamRequest.timedOut) {
      log.warn("upstream response timed out", {
        upstream: formatUpstream(upstream),
        timeout_ms: options.responseTimeoutMs,
      });
      hooks.onEnd(504);
      return gatewayTimeout();
    }

    log.warn("upstream request failed", { upstream: formatUpstream(upstream), error });
    hooks.onEnd(502);
    return badGateway();
  } finally {
    connect.stop();
    upstreamRequest.settle();
  }

  // A streaming body (SSE, chunked, a long download) may stay quiet for longer
  // than the listener's idle timeout, so the client decides when to give up.
  if (!upstreamRequest.ended) context.disableTimeout();
  return response;
}
