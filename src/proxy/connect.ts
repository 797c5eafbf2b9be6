/**
 * A connect deadline for upstream requests. Neither Bun 1.4.5's nor Deno
 * 2.9.6's fetch takes a connect timeout. Some addresses drop TCP SYNs: a
 * host that is gone, or an app whose accept queue is full. A request to one
 * would wait for the kernel to give up, which takes about two minutes on
 * Linux with the default `tcp_syn_retries` of 6.
 */
import { probeTcp } from "../vm/probe.ts";
import type { Upstream } from "./types.ts";

/** Default for `ProxyOptions.connectTimeoutMs`: 5 s. */
export const defaultConnectTimeoutMs = 5_000;

/** A running connect check, from `watchConnect`. */
export interface ConnectWatch {
  /** Aborts when the upstream accepted no new TCP connection in time. */
  readonly signal: AbortSignal;
  /** Ends the check, once response headers arrived or the request failed. */
  stop(): void;
}

/**
 * Checks the upstream when a request has had no response headers for
 * `timeoutMs`: a fresh TCP connection must open within another `timeoutMs`,
 * or `signal` aborts. A slow app that still accepts connections keeps its
 * requests, so the deadline only ends requests to an address that takes
 * none, after between one and two `timeoutMs`.
 */
export function watchConnect(upstream: Upstream, timeoutMs: number): ConnectWatch {
  const controller = new AbortController();
  let stopped = false;

  const check = async () => {
    const open = await probeTcp(upstream.hostname, upstream.port, timeoutMs);
    if (!open && !stopped) controller.abort(new Error("upstream accepted no connection"));
  };
  const timer = setTimeout(() => void check(), timeoutMs);

  return {
    signal: controller.signal,
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
