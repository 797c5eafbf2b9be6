/** Prometheus metrics: values after known events and gauges from the status report. */
import assert from "node:assert/strict";
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
  ],
};
