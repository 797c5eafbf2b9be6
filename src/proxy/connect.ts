/**
 * A connect deadline for upstream requests. Neither `Bun.connect` in Bun
 * 1.4.5 nor Deno 2.9.6's fetch takes a connect timeout. Some addresses drop TCP SYNs: a
 * host that is gone, or an app whose accept queue is full. A request to one
 * would wait for the kernel to give up, which takes about two minutes on
 * Linux with the default `tcp_syn_retries` of 6.
 */
import type { UpstreamRequest } from "../runtime/index.ts";
import { probeTcp } from "../vm/probe.ts";
import { type OverdueSweep, sweepsByDeadline, type Watched } from "../overdue.ts";
import type { Upstream } from "./types.ts";

/** Default for `ProxyOptions.connectTimeoutMs`: 5 s. */
export const defaultConnectTimeoutMs = 5_000;

/** A running connect check, from `watchConnect`. */
export interface ConnectWatch {
  /** True once the upstream accepted no new TCP connection in time and the request was cancelled. */
  readonly timedOut: boolean;
  /** Ends the check, once response headers arrived or the request failed. */
  stop(): void;
}

class PendingConnect implements ConnectWatch, Watched {
  readonly startedAt = performance.now();
  watchIndex = -1;
  readonly #upstream: Upstream;
  readonly #request: UpstreamRequest;
  readonly #sweep: OverdueSweep<PendingConnect>;
  #stopped = false;
  timedOut = false;

  constructor(upstream: Upstream, request: UpstreamRequest, sweep: OverdueSweep<PendingConnect>) {
    this.#upstream = upstream;
    this.#request = request;
    this.#sweep = sweep;
  }

  stop(): void {
    this.#stopped = true;
    this.#sweep.delete(this);
  }

  async check(timeoutMs: number): Promise<void> {
    const open = await probeTcp(this.#upstream.hostname, this.#upstream.port, timeoutMs);
    if (!open && !this.#stopped) {
      this.timedOut = true;
      this.#request.cancel?.(new Error("upstream accepted no connection"));
    }
  }
}

const connectSweepFor = sweepsByDeadline<PendingConnect>(
  (entry, timeoutMs) => void entry.check(timeoutMs),
);

/**
 * Checks the upstream when `request` has had no response headers for
 * `timeoutMs`: a fresh TCP connection must open within another `timeoutMs`,
 * or the request is cancelled. A slow app that still accepts connections
 * keeps its requests, so the deadline only ends requests to an address that
 * takes none, after between one and 2.25 times `timeoutMs`.
 */
export function watchConnect(
  upstream: Upstream,
  timeoutMs: number,
  request: UpstreamRequest,
): ConnectWatch {
  const sweep = connectSweepFor(timeoutMs);
  const watch = new PendingConnect(upstream, request, sweep);
  sweep.add(watch);
  return watch;
}
