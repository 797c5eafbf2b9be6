/** Prometheus metrics: values after known events and gauges from the status report. */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { Counter, Histogram, Registry } from "prom-client";
import { RelightMetrics, statusClass } from "../../src/admin/metrics.ts";
import type { CaseGroup } from "../support/cases.ts";
import { RecordingRouter, vmStatus } from "./fixtures.ts";

/** Returns the value of one sample line, such as `relight_wakes_total{app="a",result="ok"}`. */
export function sampleValue(text: string, sample: string): number | undefined {
  for (const line of text.split("\n")) {
    if (line.startsWith(`${sample} `)) return Number(line.slice(sample.length + 1));
  }
  return undefined;
}

function newMetrics(router = new RecordingRouter()) {
  return new RelightMetrics(() => router.status(), { processMetrics: false });
}

/** Bucket boundaries of `relight_request_duration_seconds`, in seconds. */
const requestBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** One `requestFinished` call: app, status and duration in ms. */
type RequestEvent = [app: string, status: number, durationMs: number];

/**
 * Requests that cover each status class, the empty app, label values that
 * need escaping, durations on bucket boundaries, past the last bound and
 * below zero, and apps whose first requests interleave.
 */
const requestEvents: RequestEvent[] = [
  ["shop-1", 200, 12],
  ["blog-1", 502, 5],
  ["", 404, 1],
  ["shop-1", 101, 10],
  ["unmatched", 404, 60_000],
  ["blog-1", 204, 0.5],
  ['a"b\\c\nd', 302, 250],
  ["shop-1", 0, 61_000],
  ["blog-1", 600, 2_500.25],
  ["shop-1", 599, 30_000],
  ["blog-1", 250.5, -3],
  ["123", 100, 4.999],
  ["shop-1", 200, 1_000],
  ["blog-1", 502, 99.9],
];

/** Returns the lines of `text` that are samples of `relight_request*` metrics or their TYPE. */
function requestMetricLines(text: string): string[] {
  return text.split("\n").filter((line) =>
    line.startsWith("relight_request") || line.startsWith("# TYPE relight_request")
  );
}

/** Returns whether `read` succeeds, as procfs reads do only where the runtime allows them. */
function canRead(read: () => unknown): boolean {
  try {
    read();
    return true;
  } catch {
    return false;
  }
}

/** Process metrics by name without the `relight_` prefix, with their TYPE. */
const processMetricTypes: [string, "counter" | "gauge"][] = [
  ["process_cpu_user_seconds_total", "counter"],
  ["process_cpu_system_seconds_total", "counter"],
  ["process_cpu_seconds_total", "counter"],
  ["process_start_time_seconds", "gauge"],
  ["process_resident_memory_bytes", "gauge"],
  ["process_virtual_memory_bytes", "gauge"],
  ["process_heap_bytes", "gauge"],
  ["process_open_fds", "gauge"],
  ["process_max_fds", "gauge"],
  ["nodejs_eventloop_lag_seconds", "gauge"],
  ["nodejs_heap_size_total_bytes", "gauge"],
  ["nodejs_heap_size_used_bytes", "gauge"],
  ["nodejs_external_memory_bytes", "gauge"],
];

/** Renders `events` with prom-client's own Counter and Histogram, for comparison. */
async function renderWithPromClient(events: RequestEvent[]): Promise<string> {
  const registry = new Registry();
  const requests = new Counter({
    name: "relight_requests_total",
    help: "Requests.",
    labelNames: ["app", "status_class"],
    registers: [registry],
  });
  const durations = new Histogram({
    name: "relight_request_duration_seconds",
    help: "Durations.",
    labelNames: ["app"],
    buckets: requestBuckets,
    registers: [registry],
  });
  for (const [app, status, durationMs] of events) {
    const label = app === "" ? "unmatched" : app;
    requests.inc({ app: label, status_class: statusClass(status) });
    durations.observe({ app: label }, durationMs / 1000);
  }
  return await registry.metrics();
}

export const metricsCases: CaseGroup = {
  name: "metrics",
  cases: [
    {
      name: "status class labels",
      run() {
        assert.equal(statusClass(200), "2xx");
        assert.equal(statusClass(302), "3xx");
        assert.equal(statusClass(404), "4xx");
        assert.equal(statusClass(599), "5xx");
        assert.equal(statusClass(0), "other");
        assert.equal(statusClass(600), "other");
      },
    },
    {
      name: "requests counted by class",
      async run() {
        const metrics = newMetrics();
        metrics.requestFinished("blog-1", 200, 12);
        metrics.requestFinished("blog-1", 204, 30);
        metrics.requestFinished("blog-1", 502, 2000);
        metrics.requestFinished("", 404, 1);
        const text = await metrics.render();

        assert.equal(
          sampleValue(text, 'relight_requests_total{app="blog-1",status_class="2xx"}'),
          2,
        );
        assert.equal(
          sampleValue(text, 'relight_requests_total{app="blog-1",status_class="5xx"}'),
          1,
        );
        assert.equal(
          sampleValue(text, 'relight_requests_total{app="unmatched",status_class="4xx"}'),
          1,
        );
        assert.equal(sampleValue(text, 'relight_request_duration_seconds_count{app="blog-1"}'), 3);
        assert.equal(
          sampleValue(text, 'relight_request_duration_seconds_sum{app="blog-1"}'),
          2.042,
        );
        assert.equal(
          sampleValue(text, 'relight_request_duration_seconds_bucket{le="0.025",app="blog-1"}'),
          1,
        );
      },
    },
    {
      name: "request counter values exact",
      async run() {
        const metrics = newMetrics();
        for (const [app, status, durationMs] of requestEvents) {
          metrics.requestFinished(app, status, durationMs);
        }
        const text = await metrics.render();

        const expected: [string, number][] = [
          ["shop-1", "2xx", 2],
          ["shop-1", "1xx", 1],
          ["shop-1", "other", 1],
          ["shop-1", "5xx", 1],
          ["blog-1", "5xx", 2],
          ["blog-1", "2xx", 1],
          ["blog-1", "other", 2],
          ["unmatched", "4xx", 2],
          ['a\\"b\\\\c\\nd', "3xx", 1],
          ["123", "1xx", 1],
        ].map(([app, statusClass, count]) => [
          `relight_requests_total{app="${app}",status_class="${statusClass}"}`,
          count as number,
        ]);
        for (const [sample, count] of expected) {
          assert.equal(sampleValue(text, sample), count, sample);
        }
        const samples = text.split("\n").filter((line) =>
          line.startsWith("relight_requests_total")
        );
        assert.equal(samples.length, expected.length);
      },
    },
    {
      name: "request histogram values exact",
      async run() {
        const metrics = newMetrics();
        for (const [app, status, durationMs] of requestEvents) {
          metrics.requestFinished(app, status, durationMs);
        }
        const text = await metrics.render();
        const name = "relight_request_duration_seconds";

        // shop-1 took 12 ms, 10 ms, 61 s, 30 s and 1 s, in that order.
        const shopBuckets: [string, number][] = [
          ["0.005", 0],
          ["0.01", 1],
          ["0.025", 2],
          ["0.05", 2],
          ["0.1", 2],
          ["0.25", 2],
          ["0.5", 2],
          ["1", 3],
          ["2.5", 3],
          ["5", 3],
          ["10", 3],
          ["30", 4],
          ["60", 4],
          ["+Inf", 5],
        ];
        for (const [le, count] of shopBuckets) {
          const sample = `${name}_bucket{le="${le}",app="shop-1"}`;
          assert.equal(sampleValue(text, sample), count, sample);
        }
        assert.equal(sampleValue(text, `${name}_count{app="shop-1"}`), 5);
        assert.equal(sampleValue(text, `${name}_sum{app="shop-1"}`), 0.012 + 0.01 + 61 + 30 + 1);

        // blog-1 took 5 ms, 0.5 ms, 2.50025 s, -3 ms and 99.9 ms, in that order.
        assert.equal(sampleValue(text, `${name}_bucket{le="0.005",app="blog-1"}`), 3);
        assert.equal(sampleValue(text, `${name}_bucket{le="0.1",app="blog-1"}`), 4);
        assert.equal(sampleValue(text, `${name}_bucket{le="2.5",app="blog-1"}`), 4);
        assert.equal(sampleValue(text, `${name}_bucket{le="5",app="blog-1"}`), 5);
        assert.equal(sampleValue(text, `${name}_count{app="blog-1"}`), 5);
        assert.equal(
          sampleValue(text, `${name}_sum{app="blog-1"}`),
          0.005 + 0.0005 + 2.50025 + -0.003 + 0.0999,
        );

        // The empty app and "unmatched" share one series, with durations of 1 ms and 60 s.
        assert.equal(sampleValue(text, `${name}_bucket{le="0.005",app="unmatched"}`), 1);
        assert.equal(sampleValue(text, `${name}_bucket{le="30",app="unmatched"}`), 1);
        assert.equal(sampleValue(text, `${name}_bucket{le="60",app="unmatched"}`), 2);
        assert.equal(sampleValue(text, `${name}_count{app="unmatched"}`), 2);
        assert.equal(sampleValue(text, `${name}_sum{app="unmatched"}`), 0.001 + 60);
      },
    },
    {
      name: "request metrics match prom-client",
      async run() {
        const metrics = newMetrics();
        for (const [app, status, durationMs] of requestEvents) {
          metrics.requestFinished(app, status, durationMs);
        }
        const expected = requestMetricLines(await renderWithPromClient(requestEvents));
        const actual = requestMetricLines(await metrics.render());

        assert.deepEqual(actual, expected);
      },
    },
    {
      name: "request metrics stable across scrapes",
      async run() {
        const metrics = newMetrics();
        const firstHalf = requestEvents.slice(0, 7);
        for (const [app, status, durationMs] of firstHalf) {
          metrics.requestFinished(app, status, durationMs);
        }
        const first = requestMetricLines(await metrics.render());
        const again = requestMetricLines(await metrics.render());
        assert.deepEqual(first, requestMetricLines(await renderWithPromClient(firstHalf)));
        assert.deepEqual(again, first);

        for (const [app, status, durationMs] of requestEvents.slice(7)) {
          metrics.requestFinished(app, status, durationMs);
        }
        const expected = requestMetricLines(await renderWithPromClient(requestEvents));
        assert.deepEqual(requestMetricLines(await metrics.render()), expected);
      },
    },
    {
      name: "registry reset clears requests",
      async run() {
        const metrics = newMetrics();
        metrics.requestFinished("blog-1", 200, 12);
        await metrics.render();
        metrics.registry.resetMetrics();
        let text = await metrics.render();

        assert.equal(
          sampleValue(text, 'relight_requests_total{app="blog-1",status_class="2xx"}'),
          undefined,
        );
        assert.equal(
          sampleValue(text, 'relight_request_duration_seconds_count{app="blog-1"}'),
          undefined,
        );

        metrics.requestFinished("blog-1", 200, 30);
        text = await metrics.render();
        assert.equal(
          sampleValue(text, 'relight_requests_total{app="blog-1",status_class="2xx"}'),
          1,
        );
        assert.equal(sampleValue(text, 'relight_request_duration_seconds_sum{app="blog-1"}'), 0.03);
      },
    },
    {
      name: "non-finite duration rejected",
      async run() {
        const metrics = newMetrics();
        assert.throws(() => metrics.requestFinished("blog-1", 200, Number.NaN), TypeError);
        assert.throws(
          () => metrics.requestFinished("blog-1", 200, Number.POSITIVE_INFINITY),
          TypeError,
        );
        const text = await metrics.render();

        // As with prom-client's Histogram, the request is counted before the duration is checked.
        assert.equal(
          sampleValue(text, 'relight_requests_total{app="blog-1",status_class="2xx"}'),
          2,
        );
        assert.equal(
          sampleValue(text, 'relight_request_duration_seconds_count{app="blog-1"}'),
          undefined,
        );
      },
    },
    {
      name: "wakes and pauses counted",
      async run() {
        const metrics = newMetrics();
        metrics.wakeFinished("blog-1", "ok", 800);
        metrics.wakeFinished("blog-1", "ok", 1200);
        metrics.wakeFinished("blog-1", "timeout", 30_000);
        metrics.pauseFinished("blog-1", "ok");
        metrics.pauseFinished("shop-1", "failed");
        const text = await metrics.render();

        assert.equal(sampleValue(text, 'relight_wakes_total{app="blog-1",result="ok"}'), 2);
        assert.equal(sampleValue(text, 'relight_wakes_total{app="blog-1",result="timeout"}'), 1);
        assert.equal(
          sampleValue(text, 'relight_wake_duration_seconds_sum{app="blog-1",result="ok"}'),
          2,
        );
        assert.equal(
          sampleValue(
            text,
            'relight_wake_duration_seconds_bucket{le="1",app="blog-1",result="ok"}',
          ),
          1,
        );
        assert.equal(sampleValue(text, 'relight_pauses_total{app="blog-1",result="ok"}'), 1);
        assert.equal(sampleValue(text, 'relight_pauses_total{app="shop-1",result="failed"}'), 1);
      },
    },
    {
      name: "slicerd, index, reload, ACME",
      async run() {
        const metrics = newMetrics();
        metrics.slicerCall("/nodes", 200, 4);
        metrics.slicerCall("/nodes", 0, 10_000);
        metrics.slicerCall("/vm/{hostname}/resume", 200, 50);
        metrics.indexRefreshed(true);
        metrics.indexRefreshed(true);
        metrics.indexRefreshed(false);
        metrics.reloadFinished(false);
        metrics.certificateOrder("issued", 3000);
        const text = await metrics.render();

        assert.equal(
          sampleValue(text, 'relight_slicer_requests_total{endpoint="/nodes",status="200"}'),
          1,
        );
        assert.equal(
          sampleValue(text, 'relight_slicer_requests_total{endpoint="/nodes",status="0"}'),
          1,
        );
        assert.equal(
          sampleValue(text, 'relight_slicer_request_duration_seconds_count{endpoint="/nodes"}'),
          2,
        );
        assert.equal(sampleValue(text, 'relight_index_refreshes_total{result="ok"}'), 2);
        assert.equal(sampleValue(text, 'relight_index_refreshes_total{result="failed"}'), 1);
        assert.equal(sampleValue(text, 'relight_config_reloads_total{result="failed"}'), 1);
        assert.equal(sampleValue(text, 'relight_certificate_orders_total{result="issued"}'), 1);
      },
    },
    {
      name: "gauges follow status report",
      async run() {
        const router = new RecordingRouter();
        const metrics = newMetrics(router);
        router.report.vms = [
          vmStatus("blog-1", { inFlightRequests: 3, openWebSockets: 1 }),
          vmStatus("shop-1", { state: "paused" }),
          vmStatus("shop-2", { state: "paused" }),
        ];
        router.report.index.ageMs = 2500;
        router.report.slicer.reachable = false;
        let text = await metrics.render();

        assert.equal(sampleValue(text, 'relight_vms{state="running"}'), 1);
        assert.equal(sampleValue(text, 'relight_vms{state="paused"}'), 2);
        assert.equal(sampleValue(text, 'relight_vms{state="resuming"}'), 0);
        assert.equal(sampleValue(text, 'relight_in_flight_requests{app="blog-1"}'), 3);
        assert.equal(sampleValue(text, 'relight_open_websockets{app="blog-1"}'), 1);
        assert.equal(sampleValue(text, 'relight_in_flight_requests{app="shop-1"}'), 0);
        assert.equal(sampleValue(text, "relight_index_age_seconds"), 2.5);
        assert.equal(sampleValue(text, "relight_slicer_reachable"), 0);

        router.report.vms = [vmStatus("shop-1")];
        router.report.index.ageMs = null;
        text = await metrics.render();
        assert.equal(sampleValue(text, 'relight_in_flight_requests{app="blog-1"}'), undefined);
        assert.equal(sampleValue(text, 'relight_vms{state="paused"}'), 0);
        assert.ok(Number.isNaN(sampleValue(text, "relight_index_age_seconds")));
      },
    },
    {
      name: "registries are per instance",
      async run() {
        const first = newMetrics();
        const second = newMetrics();
        first.requestFinished("blog-1", 200, 1);
        const text = await second.render();

        assert.equal(
          sampleValue(text, 'relight_requests_total{app="blog-1",status_class="2xx"}'),
          undefined,
        );
      },
    },
    {
      name: "process metrics included",
      async run() {
        const metrics = new RelightMetrics(() => new RecordingRouter().status());
        const text = await metrics.render();

        assert.ok((sampleValue(text, "relight_process_resident_memory_bytes") ?? 0) > 0);
        // Where procfs is unreadable these are left out rather than shown as 0.
        for (const name of ["relight_process_virtual_memory_bytes", "relight_process_open_fds"]) {
          const value = sampleValue(text, name);
          assert.ok(value === undefined || value > 0, `${name} is ${value}`);
        }
      },
    },
    {
      name: "process metrics plausible values",
      async run() {
        const metrics = new RelightMetrics(() => new RecordingRouter().status());
        const text = await metrics.render();
        const value = (name: string) => sampleValue(text, `relight_${name}`);
        const nowSeconds = Date.now() / 1000;
        const statusReadable = canRead(() => readFileSync("/proc/self/status", "utf8"));
        const fdReadable = canRead(() => readdirSync("/proc/self/fd"));
        const limitsReadable = canRead(() => readFileSync("/proc/self/limits", "utf8"));

        const expectedAbsent = new Set<string>();
        if (!statusReadable) {
          expectedAbsent.add("process_virtual_memory_bytes").add("process_heap_bytes");
        }
        if (!fdReadable) expectedAbsent.add("process_open_fds");
        if (!limitsReadable) expectedAbsent.add("process_max_fds");
        for (const [name, type] of processMetricTypes) {
          const typeLine = `# TYPE relight_${name} ${type}`;
          if (expectedAbsent.has(name)) {
            assert.equal(value(name), undefined, `${name} is left out`);
            assert.ok(!text.includes(typeLine), `${name} is left out`);
          } else {
            assert.ok(text.includes(`\n${typeLine}\n`), typeLine);
            assert.ok(Number.isFinite(value(name)), `${name} is ${value(name)}`);
          }
        }

        const user = value("process_cpu_user_seconds_total") ?? Number.NaN;
        const system = value("process_cpu_system_seconds_total") ?? Number.NaN;
        const cpu = value("process_cpu_seconds_total") ?? Number.NaN;
        assert.ok(user >= 0, `user CPU ${user}`);
        assert.ok(system >= 0, `system CPU ${system}`);
        assert.ok(cpu > 0, `CPU ${cpu}`);
        assert.ok(
          Math.abs(cpu - (user + system)) < 1e-9,
          `CPU ${cpu}, user ${user}, system ${system}`,
        );

        // The start time is rounded to whole seconds.
        const start = value("process_start_time_seconds") ?? Number.NaN;
        assert.ok(start <= nowSeconds + 1, `start ${start}, now ${nowSeconds}`);
        assert.ok(start > nowSeconds - 86_400, `start ${start}, now ${nowSeconds}`);

        const resident = value("process_resident_memory_bytes") ?? Number.NaN;
        assert.ok(resident > 1024 * 1024, `resident ${resident}`);
        if (statusReadable) {
          const virtual = value("process_virtual_memory_bytes") ?? Number.NaN;
          assert.ok(virtual >= resident, `virtual ${virtual}, resident ${resident}`);
          assert.ok((value("process_heap_bytes") ?? 0) > 0);
        }
        if (fdReadable) {
          const open = value("process_open_fds") ?? Number.NaN;
          assert.ok(open > 0, `open fds ${open}`);
          if (limitsReadable) {
            const max = value("process_max_fds") ?? Number.NaN;
            assert.ok(max >= open, `max fds ${max}, open fds ${open}`);
          }
        }

        const lag = value("nodejs_eventloop_lag_seconds") ?? Number.NaN;
        assert.ok(lag >= 0, `event loop lag ${lag}`);
        assert.ok(lag < 10, `event loop lag ${lag}`);
        const heapTotal = value("nodejs_heap_size_total_bytes") ?? Number.NaN;
        const heapUsed = value("nodejs_heap_size_used_bytes") ?? Number.NaN;
        assert.ok(heapUsed > 0, `heap used ${heapUsed}`);
        // Not compared with each other: Bun 1.4.5 once reported 8,756,777
        // bytes used of a 8,697,856-byte heap.
        assert.ok(heapTotal > 0, `heap total ${heapTotal}`);
        assert.ok((value("nodejs_external_memory_bytes") ?? Number.NaN) >= 0);

        // prom-client's other default metrics are not included.
        for (
          const name of [
            "nodejs_eventloop_lag_p99_seconds",
            "nodejs_heap_space_size_used_bytes",
            "nodejs_active_handles_total",
            "nodejs_gc_duration_seconds",
            "nodejs_version_info",
          ]
        ) {
          assert.ok(!text.includes(`relight_${name}`), name);
        }
      },
    },
  ],
};
