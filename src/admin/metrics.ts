/**
 * Prometheus metrics for one Relight instance. Counters and histograms are
 * updated through the `Observer` calls that the router makes at each event.
 * Request counts and durations, recorded once per proxied request, are kept
 * as plain numbers and passed to prom-client at scrape time. Gauges for VM
 * states, in-flight requests, open WebSockets, slicerd reachability and index
 * age are read from the status report at scrape time.
 */
import { Counter, Gauge, Histogram, type Metric, Registry } from "prom-client";
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

/** Request counts and durations of one app, as prom-client's Counter and Histogram keep them. */
class AppRequests {
  /** Requests by status class, indexed like `statusClasses`. */
  readonly statusCounts: number[] = statusClasses.map(() => 0);
  /**
   * Durations per bucket of `requestBuckets`, not cumulative. Durations above
   * the last bound are counted only in `durationCount`.
   */
  readonly bucketCounts: number[] = requestBuckets.map(() => 0);
  /** Sum of the durations in seconds. */
  durationSum = 0;
  durationCount = 0;

  constructor(readonly app: string) {}
}

/** One series of `relight_requests_total`. */
interface RequestCountSeries {
  readonly requests: AppRequests;
  readonly classIndex: number;
  readonly labels: { app: string; status_class: string };
}

/**
 * Counts and durations of proxied requests by app. prom-client's `inc` and
 * `observe` hash a labels object on every call, but `add` looks the app up
 * in a Map once and allocates nothing unless the app or its status class is
 * new. The request metrics read these totals at scrape time.
 */
class RequestTotals {
  readonly #apps = new Map<string, AppRequests>();
  /** Counter series in order of their first request, the order prom-client renders them in. */
  readonly countSeries: RequestCountSeries[] = [];
  /** Apps in order of their first duration, the order prom-client renders histogram series in. */
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
      const labels = { app, status_class: statusClass(status) };
      this.countSeries.push({ requests, classIndex, labels });
    }

    // prom-client's Histogram.observe raised the same error after the
    // counter had counted the request, so the count stays.
    const seconds = durationMs / 1000;
    if (!Number.isFinite(seconds)) {
      throw new TypeError(`Invalid request duration: ${durationMs} ms is not a finite number.`);
    }
    if (requests.durationCount === 0) this.durationSeries.push(requests);
    requests.durationCount += 1;
    requests.durationSum += seconds;

    // Bounds are inclusive, as in Prometheus (`le`).
    let bucket = 0;
    while (bucket < requestBuckets.length && seconds > (requestBuckets[bucket] ?? 0)) bucket++;
    if (bucket < requestBuckets.length) {
      requests.bucketCounts[bucket] = (requests.bucketCounts[bucket] ?? 0) + 1;
    }
  }

  clear(): void {
    this.#apps.clear();
    this.countSeries.length = 0;
    this.durationSeries.length = 0;
  }
}

/** One sample in the form that prom-client's `Histogram.get()` returns. */
interface HistogramSample {
  labels: Record<string, string | number>;
  value: number;
  metricName: string;
}

/**
 * `relight_request_duration_seconds`, built from `RequestTotals` at scrape
 * time. prom-client's Histogram has no way to set bucket counts, so this is
 * a metric of its own. prom-client 15.1.3's Registry reads `name`, `help`,
 * `type`, `aggregator`, `get()` and `reset()` from a registered metric, and
 * renders a metric without `getForPromString()` from `get()`. `get()` returns
 * the samples that `Histogram.get()` returns for the same observations.
 */
class RequestDurationHistogram {
  readonly name = "relight_request_duration_seconds";
  readonly help = "Time from receiving a request to the end of its response body or WebSocket, " +
    "including any wake.";
  readonly type = "histogram";
  readonly aggregator = "sum";
  readonly #totals: RequestTotals;

  constructor(totals: RequestTotals) {
    this.#totals = totals;
  }

  get() {
    const bucketName = `${this.name}_bucket`;
    const values: HistogramSample[] = [];
    for (const requests of this.#totals.durationSeries) {
      const app = requests.app;
      let cumulative = 0;
      requestBuckets.forEach((le, index) => {
        cumulative += requests.bucketCounts[index] ?? 0;
        values.push({ labels: { le, app }, value: cumulative, metricName: bucketName });
      });
      values.push(
        { labels: { le: "+Inf", app }, value: requests.durationCount, metricName: bucketName },
        { labels: { app }, value: requests.durationSum, metricName: `${this.name}_sum` },
        { labels: { app }, value: requests.durationCount, metricName: `${this.name}_count` },
      );
    }
    const { name, help, type, aggregator } = this;
    return Promise.resolve({ name, help, type, values, aggregator });
  }

  /** Clears the request totals, which `relight_requests_total` also reads. */
  reset(): void {
    this.#totals.clear();
  }
}

export class RelightMetrics implements Observer {
  /** The registry of this instance; the global prom-client registry is never used. */
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
    const registers = [this.registry];

    const requestTotals = this.#requestTotals;
    new Counter({
      name: "relight_requests_total",
      help: "Proxied requests by app and response status class.",
      labelNames: ["app", "status_class"],
      registers,
      // Called at each scrape before the counter's values are read.
      collect() {
        this.reset();
        for (const { requests, classIndex, labels } of requestTotals.countSeries) {
          this.inc(labels, requests.statusCounts[classIndex]);
        }
      },
    });
    // The cast is needed because prom-client's Metric type lists only its own classes.
    this.registry.registerMetric(new RequestDurationHistogram(requestTotals) as unknown as Metric);
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
