/** The access log: one line per proxied request when `log.access` is true. */
import { getLogger } from "@logtape/logtape";
import type { RequestHandler } from "../runtime/index.ts";

export const accessLogCategory = ["relight", "access"];

export interface AccessEntry {
  method: string;
  /** The request's Host, as sent by the client. */
  host: string;
  /** Request path without the query string, which may carry credentials. */
  path: string;
  status: number;
  durationMs: number;
  /** Response body size in bytes, or null when unknown (a stream without Content-Length). */
  bytes: number | null;
  remoteAddress?: string;
}

const accessLogger = getLogger(accessLogCategory);

/** Writes one access log line; does nothing unless `log.access` is on. */
export function logAccess(entry: AccessEntry): void {
  const queryStart = entry.path.indexOf("?");
  accessLogger.info("request", {
    method: entry.method,
    host: entry.host,
    path: queryStart === -1 ? entry.path : entry.path.slice(0, queryStart),
    status: entry.status,
    duration_ms: Math.round(entry.durationMs),
    bytes: entry.bytes,
    ...(entry.remoteAddress === undefined ? {} : { remote_address: entry.remoteAddress }),
  });
}

/**
 * Wraps a request handler so that each request gets an access log line when
 * `log.access` is on. The line is written when the response headers are
 * ready: `durationMs` runs to that point, and `bytes` is the response's
 * `Content-Length`, or null for a streamed body, because counting streamed
 * bytes would put a stream stage on every response.
 */
export function withAccessLog(handler: RequestHandler): RequestHandler {
  return async (request, context) => {
    if (!accessLogger.isEnabledFor("info")) return await handler(request, context);

    const started = performance.now();
    const response = await handler(request, context);
    const url = new URL(request.url);
    const length = response.headers.get("content-length");
    logAccess({
      method: request.method,
      host: request.headers.get("host") ?? "",
      path: url.pathname,
      status: response.status,
      durationMs: performance.now() - started,
      bytes: length === null ? null : Number(length),
      remoteAddress: context.remoteAddress,
    });
    return response;
  };
}
