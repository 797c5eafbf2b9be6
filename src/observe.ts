/**
 * Events that the router reports for metrics. The router calls these at each
 * state change; the admin server's Prometheus metrics implement them. `app`
 * is always a VM's hostname or a configured site pattern, never a request's
 * Host header, so label values stay bounded.
 */

/** Outcome of a wake; "cancelled" means Relight shut down while it ran. */
export type WakeResult =
  | "ok"
  | "timeout"
  | "resume_failed"
  | "slicer_unreachable"
  | "stopped"
  | "cancelled";
export type PauseResult = "ok" | "failed";
export type CertificateOrderResult = "issued" | "failed";

export interface Observer {
  /** A proxied request finished with `status` after `durationMs`. */
  requestFinished(app: string, status: number, durationMs: number): void;
  /** A wake ended, measured from the first waiting request to ready or failure. */
  wakeFinished(app: string, result: WakeResult, durationMs: number): void;
  pauseFinished(app: string, result: PauseResult): void;
  /** One call to slicerd; `status` is the HTTP status, or 0 when no response came. */
  slicerCall(endpoint: string, status: number, durationMs: number): void;
  /** An index refresh from `GET /nodes` ended. */
  indexRefreshed(ok: boolean): void;
  /** An ACME order ended, new or renewal, after `durationMs`. */
  certificateOrder(result: CertificateOrderResult, durationMs: number): void;
}

/** An observer that records nothing, for tests and tools that need none. */
export const noopObserver: Observer = {
  requestFinished() {},
  wakeFinished() {},
  pauseFinished() {},
  slicerCall() {},
  indexRefreshed() {},
  certificateOrder() {},
};

/** Returns an observer that passes every event to each of `observers`, in order. */
export function combineObservers(...observers: Observer[]): Observer {
  return {
    // Called once per request, so without the rest-argument copies of the others.
    requestFinished(app, status, durationMs) {
      for (const observer of observers) observer.requestFinished(app, status, durationMs);
    },
    wakeFinished: (...args) => observers.forEach((o) => o.wakeFinished(...args)),
    pauseFinished: (...args) => observers.forEach((o) => o.pauseFinished(...args)),
    slicerCall: (...args) => observers.forEach((o) => o.slicerCall(...args)),
    indexRefreshed: (...args) => observers.forEach((o) => o.indexRefreshed(...args)),
    certificateOrder: (...args) => observers.forEach((o) => o.certificateOrder(...args)),
  };
}
