/**
 * Prometheus text exposition format, version 0.0.4: a Registry with
 * Counter, Gauge and Histogram metrics. For the same metrics and updates the
 * text is the same as prom-client 15.1.3's, including its order of series
 * (order of first use), label order (that of the first labels object), "Nan"
 * for NaN and the blank line between metrics. Relight does not use
 * prom-client itself, because with it a compiled Relight peaked about 7 MiB
 * higher in resident memory at start and sat 1 to 3 MiB higher when idle.
 */

import {
  escapeHelp,
  formatLabels,
  HistogramCounts,
  type LabelValue,
  sampleLine,
  writeHistogramSeries,
} from "./prometheus-text.ts";

/** Content type of the text that `Registry.metrics()` returns. */
export const prometheusContentType = "text/plain; version=0.0.4; charset=utf-8";

export type MetricType = "counter" | "gauge" | "histogram";
export type { LabelValue };
/** Label values by label name. A label left out is not rendered, as in prom-client. */
export type LabelValues<L extends string> = Partial<Record<L, LabelValue>>;

/** A metric that a `Registry` renders. */
export interface Metric {
  readonly name: string;
  readonly help: string;
  readonly type: MetricType;
  /** Updates the values before they are rendered, once per scrape. */
  collect?(): void | Promise<void>;
  /** Appends one text-format line per sample to `lines`. */
  writeSamples(lines: string[]): void;
  /** Clears the values. `Registry.resetMetrics()` calls this on every metric. */
  reset(): void;
}

// Name rules of the Prometheus data model, as prom-client 15.1.3 checks them.
const metricNamePattern = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const labelNamePattern = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export interface MetricConfig<L extends string> {
  /** Metric name, matching `[a-zA-Z_:][a-zA-Z0-9_:]*`. */
  name: string;
  /** HELP text, which must not be empty. */
  help: string;
  /** Label names, each matching `[a-zA-Z_][a-zA-Z0-9_]*`. Default none. */
  labelNames?: readonly L[];
}

/** Checks `config` as prom-client 15.1.3 does, and also rejects duplicate label names. */
function validateConfig(config: MetricConfig<string>): void {
  const { name, help, labelNames = [] } = config;
  if (!metricNamePattern.test(name)) {
    throw new Error(
      `Invalid metric name "${name}": a metric name must match ${metricNamePattern.source}`,
    );
  }
  if (help === "") {
    throw new Error(`Missing help text for metric "${name}": set a non-empty help`);
  }
  labelNames.forEach((label, index) => {
    if (!labelNamePattern.test(label)) {
      throw new Error(
        `Invalid label name "${label}" for metric "${name}": ` +
          `a label name must match ${labelNamePattern.source}`,
      );
    }
    if (labelNames.indexOf(label) !== index) {
      throw new Error(`Duplicate label name "${label}" for metric "${name}"`);
    }
  });
}

/** A series of a labeled metric: its rendered labels and what it counts. */
interface Series<T> {
  readonly labelText: string;
  data: T;
}

/** Series storage shared by Counter, Gauge and Histogram. */
abstract class LabeledMetric<L extends string, T> implements Metric {
  abstract readonly type: MetricType;
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly L[];
  /** Series by label values, in order of first use, which is the order they are rendered in. */
  protected readonly series = new Map<string, Series<T>>();

  constructor(config: MetricConfig<L>) {
    validateConfig(config);
    this.name = config.name;
    this.help = config.help;
    this.labelNames = [...(config.labelNames ?? [])];
  }

  abstract writeSamples(lines: string[]): void;
  abstract reset(): void;

  /**
   * Returns the key of the series with `labels`, and throws for a label
   * name that the metric does not declare. Numbers and strings with the same
   * text are one label value, as in prom-client.
   */
  protected seriesKey(labels: LabelValues<L>): string {
    for (const label of Object.keys(labels)) {
      if (!(this.labelNames as readonly string[]).includes(label)) {
        const known = this.labelNames.length === 0
          ? "it has no labels"
          : `its label names are ${this.labelNames.join(", ")}`;
        throw new Error(`Invalid label "${label}" for metric "${this.name}": ${known}`);
      }
    }
    if (this.labelNames.length === 0) return "";
    const values = this.labelNames.map((label) => {
      const value = labels[label];
      return value === undefined ? null : String(value);
    });
    return JSON.stringify(values);
  }

  /** Returns the series at `key`, adding it with `create()` at its first use. */
  protected seriesAt(key: string, labels: LabelValues<L>, create: () => T): Series<T> {
    let series = this.series.get(key);
    if (series === undefined) {
      series = { labelText: formatLabels(labels), data: create() };
      this.series.set(key, series);
    }
    return series;
  }
}

/** Splits the `(labels, value)` and `(value)` call forms. */
function splitArguments<L extends string>(
  labelsOrValue: LabelValues<L> | number | undefined,
  value: number | undefined,
): [LabelValues<L>, number | undefined] {
  if (typeof labelsOrValue === "object") return [labelsOrValue, value];
  return [{}, labelsOrValue];
}

/** Configuration of a Counter or Gauge, which `Self` names. */
export interface ScalarConfig<L extends string, Self> extends MetricConfig<L> {
  /** Runs at each scrape before the values are rendered, with `this` set to the metric. */
  collect?: (this: Self) => void | Promise<void>;
}

/** Storage, rendering and `collect` shared by Counter and Gauge, whose series each hold one number. */
abstract class ScalarMetric<L extends string, Self> extends LabeledMetric<L, number> {
  readonly #collect: ScalarConfig<L, Self>["collect"];

  constructor(config: ScalarConfig<L, Self>) {
    super(config);
    this.#collect = config.collect;
    this.reset();
  }

  collect(): void | Promise<void> {
    // Each subclass passes itself as `Self`.
    return this.#collect?.call(this as unknown as Self);
  }

  writeSamples(lines: string[]): void {
    for (const { labelText, data } of this.series.values()) {
      lines.push(sampleLine(this.name, labelText, data));
    }
  }

  /** Removes every series, then adds a series of 0 if the metric has no labels. */
  reset(): void {
    this.series.clear();
    if (this.labelNames.length === 0) this.seriesAt("", {}, () => 0);
  }
}

export type CounterConfig<L extends string> = ScalarConfig<L, Counter<L>>;

/** A value that only goes up, until `reset()`. */
export class Counter<L extends string = never> extends ScalarMetric<L, Counter<L>> {
  readonly type = "counter";

  /**
   * Adds `value`, default 1, which must be finite and not negative.
   * prom-client 15.1.3 rejects infinities and negative values too, but adds NaN.
   */
  inc(value?: number): void;
  inc(labels: LabelValues<L>, value?: number): void;
  inc(labelsOrValue?: LabelValues<L> | number, value?: number): void {
    const [labels, increment = 1] = splitArguments(labelsOrValue, value);
    const key = this.seriesKey(labels);
    if (!Number.isFinite(increment)) {
      throw new TypeError(
        `Invalid increment for counter "${this.name}": ${increment} is not a finite number`,
      );
    }
    if (increment < 0) {
      throw new RangeError(
        `Invalid increment for counter "${this.name}": ${increment} is negative, ` +
          "and a counter only goes up (use a gauge for values that go down)",
      );
    }
    this.seriesAt(key, labels, () => 0).data += increment;
  }
}

export type GaugeConfig<L extends string> = ScalarConfig<L, Gauge<L>>;

/** A value that goes up and down. NaN and infinities are valid values. */
export class Gauge<L extends string = never> extends ScalarMetric<L, Gauge<L>> {
  readonly type = "gauge";

  set(value: number): void;
  set(labels: LabelValues<L>, value: number): void;
  set(labelsOrValue: LabelValues<L> | number, value?: number): void {
    const [labels, newValue] = splitArguments(labelsOrValue, value);
    const key = this.seriesKey(labels);
    if (typeof newValue !== "number") {
      throw new TypeError(`Invalid value for gauge "${this.name}": ${newValue} is not a number`);
    }
    this.seriesAt(key, labels, () => 0).data = newValue;
  }

  /** Adds `value`, default 1. */
  inc(value?: number): void;
  inc(labels: LabelValues<L>, value?: number): void;
  inc(labelsOrValue?: LabelValues<L> | number, value?: number): void {
    const [labels, increment = 1] = splitArguments(labelsOrValue, value);
    const key = this.seriesKey(labels);
    this.seriesAt(key, labels, () => 0).data += increment;
  }
}

export interface HistogramConfig<L extends string> extends MetricConfig<L> {
  /** Upper bounds of the buckets, finite and increasing. The `+Inf` bucket is added to them. */
  buckets: readonly number[];
  /** Runs at each scrape before the values are rendered, with `this` set to the histogram. */
  collect?: (this: Histogram<L>) => void | Promise<void>;
}

/** Counts of observations in fixed buckets, with their sum and count. */
export class Histogram<L extends string = never> extends LabeledMetric<L, HistogramCounts> {
  readonly type = "histogram";
  readonly buckets: readonly number[];
  readonly #collect: HistogramConfig<L>["collect"];

  constructor(config: HistogramConfig<L>) {
    super(config);
    if ((this.labelNames as readonly string[]).includes("le")) {
      throw new Error(
        `Invalid label name "le" for histogram "${this.name}": le is reserved for bucket bounds`,
      );
    }
    config.buckets.forEach((bound, index) => {
      const previous = config.buckets[index - 1];
      if (!Number.isFinite(bound) || (previous !== undefined && bound <= previous)) {
        throw new RangeError(
          `Invalid buckets for histogram "${this.name}": [${config.buckets.join(", ")}] ` +
            "must be finite numbers in increasing order",
        );
      }
    });
    this.buckets = [...config.buckets];
    this.#collect = config.collect;

    // As in prom-client, a histogram without labels starts with a series of
    // zeros, but reset() leaves no series until the next observation.
    if (this.labelNames.length === 0) this.#countsAt("", {});
  }

  /** Adds `value`, which must be finite. */
  observe(value: number): void;
  observe(labels: LabelValues<L>, value: number): void;
  observe(labelsOrValue: LabelValues<L> | number, value?: number): void {
    const [labels, observed] = splitArguments(labelsOrValue, value);
    const key = this.seriesKey(labels);
    if (observed === undefined || !Number.isFinite(observed)) {
      throw new TypeError(
        `Invalid observation for histogram "${this.name}": ${observed} is not a finite number`,
      );
    }
    this.#countsAt(key, labels).observe(this.buckets, observed);
  }

  collect(): void | Promise<void> {
    return this.#collect?.call(this);
  }

  writeSamples(lines: string[]): void {
    for (const { labelText, data } of this.series.values()) {
      writeHistogramSeries(lines, this.name, this.buckets, data, labelText);
    }
  }

  /** Removes every series, also the one of a histogram without labels. */
  reset(): void {
    this.series.clear();
  }

  #countsAt(key: string, labels: LabelValues<L>): HistogramCounts {
    return this.seriesAt(key, labels, () => new HistogramCounts(this.buckets.length)).data;
  }
}

/** Renders `metric` as its HELP and TYPE lines followed by its samples. */
function renderMetric(metric: Metric): string {
  const lines = [
    `# HELP ${metric.name} ${escapeHelp(metric.help)}`,
    `# TYPE ${metric.name} ${metric.type}`,
  ];
  metric.writeSamples(lines);
  return lines.join("\n");
}

/** Metrics that are rendered together, in order of registration. */
export class Registry {
  readonly contentType = prometheusContentType;
  readonly #metrics = new Map<string, Metric>();

  /** Adds `metric` and returns it. Throws when another metric has the same name. */
  registerMetric<M extends Metric>(metric: M): M {
    const registered = this.#metrics.get(metric.name);
    if (registered !== undefined && registered !== metric) {
      throw new Error(`Metric "${metric.name}" is already registered: pick another name`);
    }
    this.#metrics.set(metric.name, metric);
    return metric;
  }

  /**
   * Runs every metric's `collect()`, waits for all of them, then renders the
   * metrics in text format, separated by blank lines and ending in a newline.
   */
  async metrics(): Promise<string> {
    const metrics = [...this.#metrics.values()];
    await Promise.all(metrics.map((metric) => metric.collect?.()));
    return `${metrics.map(renderMetric).join("\n\n")}\n`;
  }

  /** Calls `reset()` on every metric. */
  resetMetrics(): void {
    for (const metric of this.#metrics.values()) metric.reset();
  }
}
