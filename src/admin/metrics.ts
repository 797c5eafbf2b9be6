/**
 * Prometheus metrics for one Relight instance. Counters and histograms are
 * updated through the `Observer` calls that the router makes at each event.
 * Request counts and durations, recorded once per proxied request, are kept
 * as plain numbers and rendered at scrape time. Gauges for VM states,
 * in-flight requests, open WebSockets, slicerd reachability and index age
 * are read from the status report at scrape time.
 */
import type { CertificateOrderResult, Observer, PauseResult, WakeResult } from "../observe.ts";
import type { StatusReport, VmState } from "../status.ts";
import { registerProcessMetrics } from "./process-metrics.ts";
import { Counter, Gauge, Histogram, type Metric, Registry } from "./prometheus.ts";
import {
  formatLabels,
  HistogramCounts,
  sampleLine,
  writeHistogramSeries,
} from "./prometheus-text.ts";

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
  /** Adds the process and runtime metrics (CPU, memory, file descriptors, event loop lag). Default true. */
  processMetrics?: boolean;
}

/** `status_class` label values, in the order of the indexes that `statusClassIndex` returns. */
const statusClasses = ["1xx", "2xx", "3xx", "4xx", "5xx", "other"] as const;
const otherStatusClassIndex = statusClasses.length - 1;

/** Returns "2xx" for 200 to 299 and so on, or "other" outside 100 to 599. */
export function statusClass(status: number): string {
  return statusClasses[statusClassIndex(status)] ?? "other";
}

/** Returns the index of `statusClass(status)` in `statusClasses`, without building a string. */
function statusClassIndex(status: number): number {
  if (!Number.isInteger(status) || status < 100 || status > 599) return otherStatusClassIndex;
  return Math.floor(status / 100) - 1;
}

function appLabel(app: string): string {
  return app === "" ? unmatchedApp : app;
}

/** Request counts and durations of one app. */
class AppRequests {
  /** Requests by status class, indexed like `statusClasses`. */
  readonly statusCounts: number[] = statusClasses.map(() => 0);
  readonly durations = new HistogramCounts(requestBuckets.length);
  /** The `app` label pair, rendered once. */
  readonly labelText: string;

  constructor(app: string) {
    this.labelText = formatLabels({ app });
  }
}

/** One series of `relight_requests_total`. */
interface RequestCountSeries {
  readonly requests: AppRequests;
  readonly classIndex: number;
  /** The `app` and `status_class` label pairs, rendered once. */
  readonly labelText: string;
}

/**
 * Counts and durations of proxied requests by app, kept outside a labeled
 * Counter and Histogram because those build a key from the label values at
 * every update. `add` looks the app up in a Map once and allocates nothing
 * unless the app or its status class is new. The two request metrics render
 * these totals at scrape time.
 */
class RequestTotals {
  readonly #apps = new Map<string, AppRequests>();
  /** Counter series in order of their first request, the order they are rendered in. */
  readonly countSeries: RequestCountSeries[] = [];
  /** Apps in order of their first duration, the order their histogram series are rendered in. */
  readonly durationSeries: AppRequests[] = [];

  /** Adds one request to `app`, which is already a label value. */
  add(app: string, status: number, durationMs: number): void {
    let requests = this.#apps.get(app);
    if (requests === undefined) {
      requests = new AppRequests(app);
      this.#apps.set(app, requests);
    }

    const classIndex = statusClassIndex(status);
    const count = requests.statusCounts[classIndex] ?? 0;
    requests.statusCounts[classIndex] = count + 1;
    if (count === 0) {
      const labelText = formatLabels({ app, status_class: statusClass(status) });
      this.countSeries.push({ requests, classIndex, labelText });
    }

    // The request is counted before the duration is checked, so it stays
    // counted when the duration is invalid, as with a separate Counter.inc
    // and Histogram.observe.
    const seconds = durationMs / 1000;
    if (!Number.isFinite(seconds)) {
      throw new TypeError(`Invalid request duration: ${durationMs} ms is not a finite number.`);
    }
    if (requests.durations.count === 0) this.durationSeries.push(requests);
    requests.durations.observe(requestBuckets, seconds);
  }

  clear(): void {
    this.#apps.clear();
    this.countSeries.length = 0;
    this.durationSeries.length = 0;
  }
}

/** `relight_requests_total`, rendered from `RequestTotals`. */
class RequestCounter implements Metric {
  readonly name = "relight_requests_total";
  readonly help = "Proxied requests by app and response status class.";
  readonly type = "counter";
  readonly #totals: RequestTotals;

  constructor(totals: RequestTotals) {
    this.#totals = totals;
  }

  writeSamples(lines: string[]): void {
    for (const { requests, classIndex, labelText } of this.#totals.countSeries) {
      lines.push(sampleLine(this.name, labelText, requests.statusCounts[classIndex] ?? 0));
    }
  }

  /** Clears the request totals, which `relight_request_duration_seconds` also reads. */
  reset(): void {
    this.#totals.clear();
  }
}

/** `relight_request_duration_seconds`, rendered from `RequestTotals`. */
class RequestDurationHistogram implements Metric {
  readonly name = "relight_request_duration_seconds";
  readonly help = "Time from receiving a request to the end of its response body or WebSocket, " +
    "including any wake.";
  readonly type = "histogram";
  readonly #totals: RequestTotals;

  constructor(totals: RequestTotals) {
    this.#totals = totals;
  }

  writeSamples(lines: string[]): void {
    for (const requests of this.#totals.durationSeries) {
      writeHistogramSeries(
        lines,
        this.name,
        requestBuckets,
        requests.durations,
        requests.labelText,
      );
    }
  }

  /** Clears the request totals, which `relight_requests_total` also reads. */
  reset(): void {
    this.#totals.clear();
  }
}

export class RelightMetrics implements Observer {
  /** The registry of this instance. Each instance has its own. */
  readonly registry = new Registry();

  readonly #status: () => StatusReport;
  readonly #requestTotals = new RequestTotals();
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
    const register = <M extends Metric>(metric: M) => this.registry.registerMetric(metric);

    register(new RequestCounter(this.#requestTotals));
    register(new RequestDurationHistogram(this.#requestTotals));
    this.#wakes = register(
      new Counter({
        name: "relight_wakes_total",
        help: "VM wakes by app and result.",
        labelNames: ["app", "result"],
      }),
    );
    this.#wakeDuration = register(
      new Histogram({
        name: "relight_wake_duration_seconds",
        help: "Time from the first waiting request to the VM being ready or the wake failing.",
        labelNames: ["app", "result"],
        buckets: wakeBuckets,
      }),
    );
    this.#pauses = register(
      new Counter({
        name: "relight_pauses_total",
        help: "VM pauses by app and result.",
        labelNames: ["app", "result"],
      }),
    );
    this.#slicerCalls = register(
      new Counter({
        name: "relight_slicer_requests_total",
        help: "Calls to slicerd by endpoint and HTTP status; status 0 means no response.",
        labelNames: ["endpoint", "status"],
      }),
    );
    this.#slicerDuration = register(
      new Histogram({
        name: "relight_slicer_request_duration_seconds",
        help: "Duration of calls to slicerd by endpoint.",
        labelNames: ["endpoint"],
        buckets: slicerBuckets,
      }),
    );
    this.#indexRefreshes = register(
      new Counter({
        name: "relight_index_refreshes_total",
        help: "Refreshes of the VM index from slicerd by result.",
        labelNames: ["result"],
      }),
    );
    this.#reloads = register(
      new Counter({
        name: "relight_config_reloads_total",
        help: "Configuration reloads by result.",
        labelNames: ["result"],
      }),
    );
    this.#certificateOrders = register(
      new Counter({
        name: "relight_certificate_orders_total",
        help: "ACME certificate orders, new or renewal, by result.",
        labelNames: ["result"],
      }),
    );
    this.#certificateOrderDuration = register(
      new Histogram({
        name: "relight_certificate_order_duration_seconds",
        help: "Duration of ACME certificate orders by result.",
        labelNames: ["result"],
        buckets: certificateBuckets,
      }),
    );
    this.#vms = register(
      new Gauge({
        name: "relight_vms",
        help: "Known VMs by state.",
        labelNames: ["state"],
      }),
    );
    this.#inFlight = register(
      new Gauge({
        name: "relight_in_flight_requests",
        help: "Requests being proxied, by app.",
        labelNames: ["app"],
      }),
    );
    this.#webSockets = register(
      new Gauge({
        name: "relight_open_websockets",
        help: "Open proxied WebSockets, by app.",
        labelNames: ["app"],
      }),
    );
    this.#slicerReachable = register(
      new Gauge({
        name: "relight_slicer_reachable",
        help: "1 when the last call to slicerd got a response, else 0.",
      }),
    );
    this.#indexAge = register(
      new Gauge({
        name: "relight_index_age_seconds",
        help: "Age of the VM index; NaN before the first refresh.",
      }),
    );

    if (options.processMetrics ?? true) {
      registerProcessMetrics(this.registry, "relight_");
    }
  }

  requestFinished(app: string, status: number, durationMs: number): void {
    this.#requestTotals.add(appLabel(app), status, durationMs);
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
