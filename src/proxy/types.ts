import { formatAuthority } from "../runtime/authority.ts";
import type { TrustedProxies } from "./trusted.ts";

/** The VM address a request is sent to. */
export interface Upstream {
  /** IPv4 or IPv6 address (or name) of the VM. */
  hostname: string;
  port: number;
}

export interface ProxyOptions {
  /** Peers whose `X-Forwarded-*` headers are kept, from `parseTrustedProxies`. */
  trustedProxies: TrustedProxies;
  /** The listener's scheme, sent as `X-Forwarded-Proto`. */
  proto: "http" | "https";
  /**
   * Bytes a WebSocket relay may hold for a side that is not reading before it
   * closes both sides with 1008. Default 32 MiB, twice Bun's default maximum
   * message size.
   */
  webSocketBufferLimit?: number;
  /**
   * Time in ms a request may wait for response headers before the proxy
   * checks that the upstream still accepts TCP connections. When a fresh
   * connection does not open within this time too, the request fails with
   * `UpstreamConnectError`. Default 5000.
   */
  connectTimeoutMs?: number;
  /**
   * Time in ms a request may wait for the response head once it was sent
   * whole, body included, and a WebSocket upgrade for the app's response. Past
   * it, the request ends and the client gets a 504. For HTTP the check runs a
   * quarter of this time apart, so a request ends between this time and 1.25
   * times it. Default: no limit.
   */
  responseTimeoutMs?: number;
}

export interface ExchangeHooks {
  /**
   * Called exactly once when the exchange is over, with the status sent to
   * the client: 101 for a WebSocket (after both sides closed), 499 when the
   * client disconnected before a response was ready. Not called when
   * `proxyRequest` rejects with `UpstreamConnectError`, because then nothing
   * was sent and the caller still owns the exchange (it may retry with the
   * same hooks). `bytes` is the number of response body bytes handed to the
   * server, when they were counted, and is undefined for WebSockets and
   * error responses. `truncated` is true when a streamed body ended before
   * its last byte, because the client left or the upstream failed.
   */
  onEnd(status: number, bytes?: number, truncated?: boolean): void;
}

/**
 * Thrown (rejected) when no connection to the upstream could be made, before
 * anything was sent to the client, so the router can check the VM's state,
 * wake it and retry a bodiless request.
 */
export class UpstreamConnectError extends Error {
  constructor(upstream: Upstream, options?: { cause: unknown }) {
    super(`connecting to upstream ${formatUpstream(upstream)} failed`, options);
    this.name = "UpstreamConnectError";
  }
}

/** Formats an upstream as `host:port`, with brackets around an IPv6 address. */
export function formatUpstream(upstream: Upstream): string {
  return formatAuthority(upstream.hostname, upstream.port);
}
