/** The access log: one line per proxied request when `log.access` is true. */
import { getLogger } from "@logtape/logtape";

export const accessLogCategory = ["relight", "access"];

export interface AccessEntry {
  method: string;
  /** The request's Host, as sent by the client. */
  host: string;
  /** Request path without the query string, which may carry credentials. */
  path: string;
  status: number;
  durationMs: number;
  /** Response body bytes sent, or null when unknown (a stream without Content-Length). */
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
