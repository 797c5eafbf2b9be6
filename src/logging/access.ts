/** The access log: one line per request to the router when `log.access` is true. */
import { getLogger } from "@logtape/logtape";
import { requestPath } from "../request-target.ts";

export const accessLogCategory = ["relight", "access"];

export interface AccessEntry {
  method: string;
  /** The request's Host, as sent by the client. */
  host: string;
  /** Request path without the query string, which may carry credentials. */
  path: string;
  status: number;
  durationMs: number;
  /** Response body size in bytes, or null when unknown. */
  bytes: number | null;
  remoteAddress?: string;
  /** True when the response body ended before its last byte. */
  truncated?: boolean;
  /** True when a forced stop closed the connection before the response was complete. */
  cut?: boolean;
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
    // Written only for a cut-short body, whose status line was already sent.
    ...(entry.truncated === true ? { truncated: true } : {}),
    // Written only for a request cut at the shutdown timeout, logged as 503.
    ...(entry.cut === true ? { cut: true } : {}),
  });
}

/** One request that the router responded to, reported when its exchange is over. */
export interface FinishedExchange {
  request: Request;
  remoteAddress: string;
  status: number;
  /**
   * Time in ms from receiving the request to the end of the exchange: the
   * last body byte handed to the server, or the close of a WebSocket. A body
   * that the proxy reads whole (a known length up to 1 MiB) ends when the VM
   * sent its last byte, so the time to write it to the client is left out.
   */
  durationMs: number;
  /** Response body bytes handed to the server, or null when they were not counted. */
  bytes: number | null;
  /** True when a streamed body ended before its last byte (client left or upstream failed). */
  truncated?: boolean;
  /**
   * True when a forced stop at the shutdown timeout cut the request before
   * its response was complete, and `status` is then 503.
   */
  cut?: boolean;
}

/**
 * Whether the access log is on, cached because logtape's check walks the
 * logger tree and this runs for every request. Undefined until first asked
 * after logging was configured.
 */
let accessLogOn: boolean | undefined;

/** Forgets whether the access log is on; logging calls it whenever it is configured or reset. */
export function accessLogChanged(): void {
  accessLogOn = undefined;
}

/** Writes the access log line for `exchange`; does nothing unless `log.access` is on. */
export function logExchange(exchange: FinishedExchange): void {
  accessLogOn ??= accessLogger.isEnabledFor("info");
  if (!accessLogOn) return;

  const { request } = exchange;
  logAccess({
    method: request.method,
    host: request.headers.get("host") ?? "",
    // A malformed Host makes `request.url` invalid, and those requests are logged too.
    path: requestPath(request),
    status: exchange.status,
    durationMs: exchange.durationMs,
    bytes: exchange.bytes,
    remoteAddress: exchange.remoteAddress,
    ...(exchange.truncated === undefined ? {} : { truncated: exchange.truncated }),
    ...(exchange.cut === undefined ? {} : { cut: exchange.cut }),
  });
}
