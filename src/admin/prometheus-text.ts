/**
 * Lines of the Prometheus text exposition format, version 0.0.4: escaping,
 * sample values and labels as prom-client 15.1.3 writes them, and the lines
 * of a histogram series.
 */

export type LabelValue = string | number;

/** Escapes backslashes and line feeds, as in HELP text. */
export function escapeHelp(text: string): string {
  return text.replaceAll("\\", "\\\\").replaceAll("\n", "\\n");
}

/** Escapes backslashes, line feeds and double quotes, as in label values. */
export function escapeLabelValue(value: string): string {
  return escapeHelp(value).replaceAll('"', '\\"');
}

/** Formats a sample value. NaN is "Nan", the spelling of prom-client 15.1.3. */
export function formatValue(value: number): string {
  if (Number.isNaN(value)) return "Nan";
  if (value === Number.POSITIVE_INFINITY) return "+Inf";
  if (value === Number.NEGATIVE_INFINITY) return "-Inf";
  return String(value);
}

/**
 * Formats label pairs without the braces, such as `app="a",result="ok"`, in
 * the key order of `labels`. Labels whose value is undefined are left out.
 */
export function formatLabels(labels: Readonly<Record<string, LabelValue | undefined>>): string {
  const pairs: string[] = [];
  for (const [name, value] of Object.entries(labels)) {
    if (value !== undefined) pairs.push(`${name}="${escapeLabelValue(String(value))}"`);
  }
  return pairs.join(",");
}

/** Returns one sample line. `labelText` comes from `formatLabels`. */
export function sampleLine(name: string, labelText: string, value: number): string {
  const labels = labelText === "" ? "" : `{${labelText}}`;
  return `${name}${labels} ${formatValue(value)}`;
}

/** Observations of one histogram series. */
export class HistogramCounts {
  /**
   * Observations per bucket, not cumulative. Values above the last bound
   * are counted only in `count`, which is the `+Inf` bucket.
   */
  readonly bucketCounts: number[];
  sum = 0;
  count = 0;

  constructor(bucketCount: number) {
    this.bucketCounts = new Array<number>(bucketCount).fill(0);
  }

  /** Adds `value`, which the caller has checked to be finite. */
  observe(bounds: readonly number[], value: number): void {
    this.sum += value;
    this.count += 1;

    // Bounds are inclusive, because `le` means "less than or equal".
    let bucket = 0;
    while (bucket < bounds.length && value > (bounds[bucket] ?? 0)) bucket++;
    if (bucket < bounds.length) {
      this.bucketCounts[bucket] = (this.bucketCounts[bucket] ?? 0) + 1;
    }
  }
}

/**
 * Appends the `_bucket` lines, with `le` as the first label, then the `_sum`
 * and `_count` lines of one histogram series.
 */
export function writeHistogramSeries(
  lines: string[],
  name: string,
  bounds: readonly number[],
  counts: HistogramCounts,
  labelText: string,
): void {
  const bucketName = `${name}_bucket`;
  const otherLabels = labelText === "" ? "" : `,${labelText}`;
  let cumulative = 0;
  bounds.forEach((bound, index) => {
    cumulative += counts.bucketCounts[index] ?? 0;
    lines.push(`${bucketName}{le="${bound}"${otherLabels}} ${formatValue(cumulative)}`);
  });
  lines.push(
    `${bucketName}{le="+Inf"${otherLabels}} ${formatValue(counts.count)}`,
    sampleLine(`${name}_sum`, labelText, counts.sum),
    sampleLine(`${name}_count`, labelText, counts.count),
  );
}
