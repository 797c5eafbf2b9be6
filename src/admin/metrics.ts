/**
 * Prometheus metrics for one Relight instance. Counters and histograms are
 * updated through the `Observer` calls that the router makes at each event.
 * Gauges for VM states, in-flight requests, open WebSockets, slicerd
 * reachability and index age are read from the status report at scrape time.
 */
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { CertificateOrderResult, Observer, PauseResult, WakeResult } from "../observe.ts";
import type { StatusReport, VmState } from "../status.ts";
import { collectProcessMetrics } from "./process-metrics.ts";

/** Label value for requests that matched no app, such as an unknown Host. */
export const unmatchedApp = "unmatched";

const vmStates: readonly VmState[] = [
  "running",
  "pausing",
  "paused",
  "resuming",
  "stopped",
  "unknown",
];

/** Request durations in seconds, up to a minute because a request may wait for a wake. */
const requestBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
/** Wake durations in seconds; the default wake timeout is 30 s. */
const wakeBuckets = [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60];
/** slicerd call durations in seconds; the default call timeout is 10 s. */
const slicerBuckets = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** ACME order durations in seconds; an order includes HTTP-01 validation by the CA. */
const certificateBuckets = [0.5, 1, 2.5, 5, 10, 30, 60, 120];

export interface MetricsOptions {
  /** Adds the process and runtime metrics of prom-client (CPU, memory, event loop lag). Default true. */
  processMetrics?: boolean;
}

/** Returns "2xx" for 200 to 299 and so on, or "other" outside 100 to 599. */
export function statusClass(status: number): string {
  if (!Number.isInteger(status) || status < 100 || status > 599) return "other";
  return `${Math.floor(status / 100)}xx`;
}

function appLabel(app: string): string {
  return app === "" ? unmatchedApp : app;
}

export class RelightMetrics implements Observer {
  /** The registry of this instance; the global prom-client registry is never used. */
  readonly registry = new Registry();

  readonly #status: () => StatusReport;
  readonly #requests: Counter<"app" | "status_class">;
  readonly #requestDuration: Histogram<"app">;
  readonly #wakes: Counter<"app" | "result">;
  readonly #wakeDuration: Histogram<"app" | "result">;
  readonly #pauses: Counter<"app" | "result">;
  readonly #slicerCalls: Counter<"endpoint" | "status">;
  readonly #slicerDuration: Histogram<"endpoint">;
  readonly #indexRefreshes: Counter<"result">;
  readonly #reloads: Counter<"result">;
  readonly #certificateOrders: Counter<"result">;
  readonly #certificateOrderDuration: Histogram<"result">;
  readonly #vms: Gauge<"state">;
  readonly #inFlight: Gauge<"app">;
  readonly #webSockets: Gauge<"app">;
  readonly #slicerReachable: Gauge;
  readonly #indexAge: Gauge;

  /** `status` is called once per scrape for the gauges. */
  constructor(status: () => StatusReport, options: MetricsOptions = {}) {
    this.#status = status;
    const registers = [this.registry];

    this.#requests = new Counter({
      name: "relight_requests_total",
      help: "Proxied requests by app and response status class.",
      labelNames: ["app", "status_class"],
      registers,
    });
    this.#requestDuration = new Histogram({
      name: "relight_request_duration_seconds",
      help: "Time from receiving a request to the end of its response body or WebSocket, " +
        "including any wake.",
      labelNames: ["app"],
      buckets: requestBuckets,
      registers,
    });
    this.#wakes = new Counter({
      name: "relight_wakes_total",
      help: "VM wakes by app and result.",
      labelNames: ["app", "result"],
      registers,
    });
    this.#wakeDuration = new Histogram({
      name: "relight_wake_duration_seconds",
      help: "Time from the first waiting request to the VM being ready or the wake failing.",
      labelNames: ["app", "result"],
      buckets: wakeBuckets,
      registers,
    });
    this.#pauses = new Counter({
      name: "relight_pauses_total",
      help: "VM pauses by app and result.",
      labelNames: ["app", "result"],
      registers,
    });
    this.#slicerCalls = new Counter({
      name: "relight_slicer_requests_total",
      help: "Calls to slicerd by endpoint and HTTP status; status 0 means no response.",
      labelNames: ["endpoint", "status"],
      registers,
    });
    this.#slicerDuration = new Histogram({
      name: "relight_slicer_request_duration_seconds",
      help: "Duration of calls to slicerd by endpoint.",
      labelNames: ["endpoint"],
      buckets: slicerBuckets,
      registers,
    });
    this.#indexRefreshes = new Counter({
      name: "relight_index_refreshes_total",
      help: "Refreshes of the VM index from slicerd by result.",
      labelNames: ["result"],
      registers,
    });
    this.#reloads = new Counter({
      name: "relight_config_reloads_total",
      help: "Configuration reloads by result.",
      labelNames: ["result"],
      registers,
    });
    this.#certificateOrders = new Counter({
      name: "relight_certificate_orders_total",
      help: "ACME certificate orders, new or renewal, by result.",
      labelNames: ["result"],
      registers,
    });
    this.#certificateOrderDuration = new Histogram({
      name: "relight_certificate_order_duration_seconds",
      help: "Duration of ACME certificate orders by result.",
      labelNames: ["result"],
      buckets: certificateBuckets,
      registers,
    });
    this.#vms = new Gauge({
      name: "relight_vms",
      help: "Known VMs by state.",
      labelNames: ["state"],
      registers,
    });
    this.#inFlight = new Gauge({
      name: "relight_in_flight_requests",
      help: "Requests being proxied, by app.",
      labelNames: ["app"],
      registers,
    });
    this.#webSockets = new Gauge({
      name: "relight_open_websockets",
      help: "Open proxied WebSockets, by app.",
      labelNames: ["app"],
      registers,
    });
    this.#slicerReachable = new Gauge({
      name: "relight_slicer_reachable",
      help: "1 when the last call to slicerd got a response, else 0.",
      registers,
    });
    this.#indexAge = new Gauge({
      name: "relight_index_age_seconds",
      help: "Age of the VM index; NaN before the first refresh.",
      registers,
    });

    if (options.processMetrics ?? true) {
      collectProcessMetrics(this.registry, "relight_");
    }
  }

  requestFinished(app: string, status: number, durationMs: number): void {
    const label = appLabel(app);
    this.#requests.inc({ app: label, status_class: statusClass(status) });
    this.#requestDuration.observe({ app: label }, durationMs / 1000);
  }

  wakeFinished(app: string, result: WakeResult, durationMs: number): void {
    this.#wakes.inc({ app, result });
    this.#wakeDuration.observe({ app, result }, durationMs / 1000);
  }

  pauseFinished(app: string, result: PauseResult): void {
    this.#pauses.inc({ app, result });
  }

  slicerCall(endpoint: string, status: number, durationMs: number): void {
    this.#slicerCalls.inc({ endpoint, status: String(status) });
    this.#slicerDuration.observe({ endpoint }, durationMs / 1000);
  }

  indexRefreshed(ok: boolean): void {
    this.#indexRefreshes.inc({ result: ok ? "ok" : "failed" });
  }

  certificateOrder(result: CertificateOrderResult, durationMs: number): void {
    this.#certificateOrders.inc({ result });
    this.#certificateOrderDuration.observe({ result }, durationMs / 1000);
  }

  /** Counts one configuration reload, from SIGHUP or the admin API. */
  reloadFinished(ok: boolean): void {
    this.#reloads.inc({ result: ok ? "ok" : "failed" });
  }

  /** Content type of the text that `render()` returns. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** Updates the gauges from a fresh status report and renders all metrics in text format. */
  async render(): Promise<string> {
    this.#updateGauges(this.#status());
    return await this.registry.metrics();
  }

  #updateGauges(report: StatusReport): void {
    this.#vms.reset();
    this.#inFlight.reset();
    this.#webSockets.reset();

    const counts = new Map<VmState, number>(vmStates.map((state) => [state, 0]));
    for (const vm of report.vms) {
      counts.set(vm.state, (counts.get(vm.state) ?? 0) + 1);
      this.#inFlight.inc({ app: vm.hostname }, vm.inFlightRequests);
      this.#webSockets.inc({ app: vm.hostname }, vm.openWebSockets);
    }
    for (const [state, count] of counts) this.#vms.set({ state }, count);

    this.#slicerReachable.set(report.slicer.reachable ? 1 : 0);
    this.#indexAge.set(report.index.ageMs === null ? Number.NaN : report.index.ageMs / 1000);
  }
}
