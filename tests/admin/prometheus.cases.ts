/**
 * Prometheus text format: output compared with prom-client 15.1.3 for the
 * same metrics and updates, name and label checks, and reset.
 */
import assert from "node:assert/strict";
import {
  Counter as PromClientCounter,
  Gauge as PromClientGauge,
  Histogram as PromClientHistogram,
  Registry as PromClientRegistry,
} from "prom-client";
import {
  Counter,
  Gauge,
  Histogram,
  prometheusContentType,
  Registry,
} from "../../src/admin/prometheus.ts";
import type { CaseGroup } from "../support/cases.ts";

type LabelSet = Record<string, string | number>;

/** The calls that both implementations accept, so that one scenario drives both. */
interface ScenarioMetrics {
  registry: { metrics(): Promise<string>; resetMetrics(): void };
  plainCounter: { inc(value?: number): void };
  counter: { inc(labels: LabelSet, value?: number): void };
  plainGauge: { set(value: number): void; inc(value?: number): void };
  gauge: {
    set(labels: LabelSet, value: number): void;
    inc(labels: LabelSet, value?: number): void;
    reset(): void;
  };
  histogram: { observe(labels: LabelSet, value: number): void };
  plainHistogram: { observe(value: number): void };
}

/** The metrics of the scenario, registered in this order. */
const definitions = {
  plainCounter: {
    name: "test_events_total",
    help: 'Events with a backslash \\, a "quote", a literal \\n and a\nline feed.',
  },
  counter: { name: "test_requests_total", help: "Requests.", labelNames: ["app", "code"] },
  unusedCounter: { name: "test_unused_total", help: "Never counted.", labelNames: ["app"] },
  plainGauge: { name: "test_temperature", help: "A gauge without labels." },
  gauge: { name: "test_values", help: "Special and ordinary values.", labelNames: ["kind"] },
  histogram: {
    name: "test_duration_seconds",
    help: "Durations.",
    labelNames: ["app", "result"],
    buckets: [0.01, 0.1, 1, 10],
  },
  plainHistogram: {
    name: "test_size_bytes",
    help: "A histogram without labels.",
    buckets: [1e-7, 100, 1000, 1e21],
  },
  idleHistogram: { name: "test_idle_seconds", help: "Never observed.", buckets: [1] },
  unusedHistogram: {
    name: "test_unused_seconds",
    help: "Never observed, with labels.",
    labelNames: ["app"],
    buckets: [1, 2],
  },
};

function buildOwn(): ScenarioMetrics {
  const registry = new Registry();
  const d = definitions;
  const metrics = {
    registry,
    plainCounter: registry.registerMetric(new Counter(d.plainCounter)),
    counter: registry.registerMetric(new Counter(d.counter)),
    unusedCounter: registry.registerMetric(new Counter(d.unusedCounter)),
    plainGauge: registry.registerMetric(new Gauge(d.plainGauge)),
    gauge: registry.registerMetric(new Gauge(d.gauge)),
    histogram: registry.registerMetric(new Histogram(d.histogram)),
    plainHistogram: registry.registerMetric(new Histogram(d.plainHistogram)),
  };
  registry.registerMetric(new Histogram(d.idleHistogram));
  registry.registerMetric(new Histogram(d.unusedHistogram));
  return metrics;
}

function buildPromClient(): ScenarioMetrics {
  const registry = new PromClientRegistry();
  const registers = [registry];
  const d = definitions;
  const metrics = {
    registry,
    plainCounter: new PromClientCounter({ ...d.plainCounter, registers }),
    counter: new PromClientCounter({ ...d.counter, registers }),
    unusedCounter: new PromClientCounter({ ...d.unusedCounter, registers }),
    plainGauge: new PromClientGauge({ ...d.plainGauge, registers }),
    gauge: new PromClientGauge({ ...d.gauge, registers }),
    histogram: new PromClientHistogram({ ...d.histogram, registers }),
    plainHistogram: new PromClientHistogram({ ...d.plainHistogram, registers }),
  };
  new PromClientHistogram({ ...d.idleHistogram, registers });
  new PromClientHistogram({ ...d.unusedHistogram, registers });
  return metrics;
}

/**
 * Updates that cover label values that need escaping, numbers as label
 * values, labels left out, labels given in another key order, NaN and
 * infinities, values on and past bucket bounds, and several series.
 */
function feedScenario(m: ScenarioMetrics): void {
  m.plainCounter.inc();
  m.plainCounter.inc(2.5);
  m.plainCounter.inc(0);

  m.counter.inc({ app: "shop", code: 200 });
  m.counter.inc({ app: 'a"b\\c\nd', code: "500" }, 3);
  m.counter.inc({ code: 404, app: "blog" });
  // The same series as code 200 above, because label values are compared as text.
  m.counter.inc({ app: "shop", code: "200" }, 2);
  m.counter.inc({ app: "partial" });
  m.counter.inc({ app: "big", code: 0.1 + 0.2 }, 1e21);

  m.plainGauge.set(-1.5);
  m.plainGauge.inc();

  m.gauge.set({ kind: "nan" }, Number.NaN);
  m.gauge.set({ kind: "positive infinity" }, Number.POSITIVE_INFINITY);
  m.gauge.set({ kind: "negative infinity" }, Number.NEGATIVE_INFINITY);
  m.gauge.set({ kind: "tiny" }, 1e-7);
  m.gauge.set({ kind: "negative zero" }, -0);
  m.gauge.inc({ kind: "sum" }, 0.1);
  m.gauge.inc({ kind: "sum" }, 0.2);
  m.gauge.set({ kind: "nan" }, Number.NaN);

  const shop = { app: "shop", result: "ok" };
  for (const value of [0.01, 0.5, 11, -1, 0, 1e-9, 10]) m.histogram.observe(shop, value);
  m.histogram.observe({ app: 'q"\\\n', result: "failed" }, 0.1);
  m.histogram.observe({ result: "ok", app: "blog" }, 1);
  m.histogram.observe({ app: "only-app" }, 2);

  for (const value of [50, 5000, 1e-7, 1e22]) m.plainHistogram.observe(value);
}

/** Updates after `resetMetrics()`, including a gauge reset between series. */
function feedAfterReset(m: ScenarioMetrics): void {
  m.counter.inc({ app: "blog", code: 200 });
  m.counter.inc({ app: "shop", code: 200 });
  m.gauge.set({ kind: "before reset" }, 1);
  m.gauge.reset();
  m.gauge.set({ kind: "after reset" }, 2);
  m.gauge.inc({ kind: "before reset" });
  m.histogram.observe({ app: "shop", result: "ok" }, 0.2);
}

/** Returns the message of the error that `run` throws. */
function errorMessage(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
  assert.fail("expected an error");
}

export const prometheusCases: CaseGroup = {
  name: "prometheus",
  cases: [
    {
      name: "text matches prom-client",
      async run() {
        const own = buildOwn();
        const reference = buildPromClient();
        feedScenario(own);
        feedScenario(reference);

        const expected = await reference.registry.metrics();
        const actual = await own.registry.metrics();

        assert.equal(actual, expected);
        // Checks that the scenario reaches the cases it is meant to cover.
        assert.ok(expected.includes('{app="a\\"b\\\\c\\nd",code="500"} 3'), expected);
        assert.ok(expected.includes('test_requests_total{code="404",app="blog"} 1'), expected);
        assert.ok(expected.includes('test_values{kind="nan"} Nan'), expected);
        assert.ok(expected.includes('test_values{kind="negative infinity"} -Inf'), expected);
        assert.ok(expected.includes('test_size_bytes_bucket{le="1e+21"} 3'), expected);
        assert.ok(expected.includes("# HELP test_unused_total Never counted.\n"), expected);
        assert.ok(
          expected.endsWith("test_idle_seconds_count 0\n\n" + unusedHistogramText),
          expected,
        );
      },
    },
    {
      name: "text after reset matches prom-client",
      async run() {
        const own = buildOwn();
        const reference = buildPromClient();
        for (const metrics of [own, reference]) {
          feedScenario(metrics);
          await metrics.registry.metrics();
          metrics.registry.resetMetrics();
          feedAfterReset(metrics);
        }

        const expected = await reference.registry.metrics();
        const actual = await own.registry.metrics();

        assert.equal(actual, expected);
        assert.ok(expected.includes("test_events_total 0\n"), expected);
        assert.ok(!expected.includes("test_size_bytes_count"), expected);
      },
    },
    {
      name: "layout of registry text",
      async run() {
        assert.equal(await new Registry().metrics(), "\n");
        assert.equal(new Registry().contentType, "text/plain; version=0.0.4; charset=utf-8");
        assert.equal(prometheusContentType, PromClientRegistry.PROMETHEUS_CONTENT_TYPE);

        const registry = new Registry();
        registry.registerMetric(new Counter({ name: "a_total", help: "A." }));
        registry.registerMetric(new Gauge({ name: "b", help: "B.", labelNames: ["x"] }));
        assert.equal(
          await registry.metrics(),
          "# HELP a_total A.\n# TYPE a_total counter\na_total 0\n\n# HELP b B.\n# TYPE b gauge\n",
        );
      },
    },
    {
      name: "invalid metric names rejected",
      run() {
        for (const name of ["", "1abc", "a-b", "a b", "a.b", "é", "a{b}"]) {
          const message = errorMessage(() => new Counter({ name, help: "H." }));
          assert.match(message, /^Invalid metric name/, name);
          assert.ok(message.includes(`"${name}"`), message);
        }
        for (const name of ["a", "_a", ":a", "a:b_c9", "A"]) {
          assert.doesNotThrow(() => new Gauge({ name, help: "H." }), name);
        }
      },
    },
    {
      name: "invalid label names rejected",
      run() {
        for (const label of ["", "1a", "a-b", ":a", "a:b", "é"]) {
          const message = errorMessage(() =>
            new Counter({ name: "m_total", help: "H.", labelNames: [label] })
          );
          assert.match(message, /^Invalid label name/, label);
          assert.ok(message.includes(`"${label}"`), message);
          assert.ok(message.includes('"m_total"'), message);
        }
        assert.doesNotThrow(() => new Counter({ name: "m", help: "H.", labelNames: ["_a", "b9"] }));

        const reserved = errorMessage(() =>
          new Histogram({ name: "h", help: "H.", labelNames: ["le"], buckets: [1] })
        );
        assert.match(reserved, /"le".*reserved/);
        assert.doesNotThrow(() => new Gauge({ name: "g", help: "H.", labelNames: ["le"] }));

        const duplicate = errorMessage(() =>
          new Gauge({ name: "g", help: "H.", labelNames: ["a", "b", "a"] })
        );
        assert.match(duplicate, /^Duplicate label name "a"/);
      },
    },
    {
      name: "empty help rejected",
      run() {
        assert.match(errorMessage(() => new Gauge({ name: "g", help: "" })), /help.*"g"/);
      },
    },
    {
      name: "invalid buckets rejected",
      run() {
        const invalid = [[2, 1], [1, 1], [1, Number.POSITIVE_INFINITY], [Number.NaN], [-Infinity]];
        for (const buckets of invalid) {
          assert.throws(
            () => new Histogram({ name: "h", help: "H.", buckets }),
            RangeError,
            String(buckets),
          );
        }
        assert.doesNotThrow(() => new Histogram({ name: "h", help: "H.", buckets: [] }));
        assert.doesNotThrow(() => new Histogram({ name: "h", help: "H.", buckets: [-1, 0, 1] }));
      },
    },
    {
      name: "unknown labels rejected",
      async run() {
        const registry = new Registry();
        const counter = registry.registerMetric(
          new Counter({ name: "c_total", help: "C.", labelNames: ["app"] }),
        );
        const gauge = registry.registerMetric(new Gauge({ name: "g", help: "G." }));
        const histogram = registry.registerMetric(
          new Histogram({ name: "h", help: "H.", labelNames: ["app"], buckets: [1] }),
        );
        const wrong = { app: "a", state: "x" } as { app: string };

        const counterError = errorMessage(() => counter.inc(wrong));
        assert.equal(
          counterError,
          'Invalid label "state" for metric "c_total": its label names are app',
        );
        const gaugeError = errorMessage(() => gauge.set(wrong, 1));
        assert.equal(gaugeError, 'Invalid label "app" for metric "g": it has no labels');
        assert.throws(() => gauge.inc(wrong), /Invalid label "app"/);
        assert.throws(() => histogram.observe(wrong, 1), /Invalid label "state"/);

        // A rejected update adds no series.
        const text = await registry.metrics();
        assert.ok(!text.includes('app="a"'), text);
        assert.ok(text.includes("\ng 0\n"), text);
      },
    },
    {
      name: "invalid values rejected",
      async run() {
        const registry = new Registry();
        const counter = registry.registerMetric(
          new Counter({ name: "c_total", help: "C.", labelNames: ["app"] }),
        );
        const histogram = registry.registerMetric(
          new Histogram({ name: "h", help: "H.", labelNames: ["app"], buckets: [1] }),
        );
        const labels = { app: "a" };

        for (const value of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
          assert.throws(() => counter.inc(labels, value), TypeError, String(value));
          assert.throws(() => histogram.observe(labels, value), TypeError, String(value));
        }
        const negative = errorMessage(() => counter.inc(labels, -1));
        assert.match(negative, /^Invalid increment for counter "c_total": -1 is negative/);
        assert.throws(() => counter.inc(labels, -1), RangeError);
        assert.match(errorMessage(() => counter.inc(labels, Number.NaN)), /NaN is not a finite/);

        // A rejected update adds no series.
        const text = await registry.metrics();
        assert.ok(!text.includes('app="a"'), text);
      },
    },
    {
      name: "duplicate names rejected",
      run() {
        const registry = new Registry();
        const counter = registry.registerMetric(new Counter({ name: "c_total", help: "C." }));
        assert.equal(registry.registerMetric(counter), counter);
        assert.throws(
          () => registry.registerMetric(new Gauge({ name: "c_total", help: "G." })),
          /Metric "c_total" is already registered/,
        );
      },
    },
    {
      name: "reset clears series",
      async run() {
        const registry = new Registry();
        const counter = registry.registerMetric(
          new Counter({ name: "c_total", help: "C.", labelNames: ["app"] }),
        );
        const plainCounter = registry.registerMetric(new Counter({ name: "p_total", help: "P." }));
        const gauge = registry.registerMetric(new Gauge({ name: "g", help: "G." }));
        const histogram = registry.registerMetric(
          new Histogram({ name: "h", help: "H.", labelNames: ["app"], buckets: [1] }),
        );
        const plainHistogram = registry.registerMetric(
          new Histogram({ name: "ph", help: "PH.", buckets: [1] }),
        );
        counter.inc({ app: "a" }, 2);
        plainCounter.inc(3);
        gauge.set(4);
        histogram.observe({ app: "a" }, 0.5);
        plainHistogram.observe(0.5);

        registry.resetMetrics();
        const text = await registry.metrics();
        assert.ok(!text.includes('c_total{app="a"}'), text);
        assert.ok(text.includes("\np_total 0\n"), text);
        assert.ok(text.includes("\ng 0\n"), text);
        assert.ok(!text.includes('h_count{app="a"}'), text);
        // As in prom-client, reset() leaves a histogram without labels with no series.
        assert.ok(!text.includes("ph_count"), text);

        counter.inc({ app: "a" });
        plainHistogram.observe(2);
        const after = await registry.metrics();
        assert.ok(after.includes('\nc_total{app="a"} 1\n'), after);
        assert.ok(after.includes('\nph_bucket{le="1"} 0\n'), after);
        assert.ok(after.includes("\nph_count 1\n"), after);
      },
    },
    {
      name: "collect runs at each scrape",
      async run() {
        const registry = new Registry();
        let scrapes = 0;
        registry.registerMetric(
          new Gauge({
            name: "scrapes",
            help: "Scrapes.",
            collect() {
              scrapes += 1;
              this.set(scrapes);
            },
          }),
        );
        registry.registerMetric(
          new Counter({
            name: "async_total",
            help: "Set after an await.",
            async collect() {
              await Promise.resolve();
              this.inc(10);
            },
          }),
        );

        assert.ok((await registry.metrics()).includes("\nscrapes 1\n"));
        const text = await registry.metrics();
        assert.ok(text.includes("\nscrapes 2\n"), text);
        assert.ok(text.includes("\nasync_total 20\n"), text);
      },
    },
    {
      name: "collect error fails the scrape",
      async run() {
        const registry = new Registry();
        registry.registerMetric(
          new Gauge({
            name: "broken",
            help: "Throws.",
            collect() {
              throw new Error("collect failed");
            },
          }),
        );
        await assert.rejects(registry.metrics(), /collect failed/);
      },
    },
  ],
};

/** The end of the scenario's text: a histogram with labels that was never observed. */
const unusedHistogramText = "# HELP test_unused_seconds Never observed, with labels.\n" +
  "# TYPE test_unused_seconds histogram\n";
