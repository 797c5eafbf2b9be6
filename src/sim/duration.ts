/** Parsing of Go-style durations such as "500ms", "30s" or "1m30s". */

const unitMs: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  "µs": 1e-3,
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
};

/** Parses a Go duration into milliseconds, or raises a RangeError naming the bad value. */
export function parseDurationMs(text: string): number {
  const pattern = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let totalMs = 0;
  let matched = 0;
  for (const match of text.matchAll(pattern)) {
    totalMs += Number(match[1]) * (unitMs[match[2] ?? ""] ?? Number.NaN);
    matched += match[0].length;
  }
  if (text === "0") return 0;
  if (text.length === 0 || matched !== text.length || !Number.isFinite(totalMs)) {
    throw new RangeError(
      `Invalid duration "${text}": use a number with a unit, such as "500ms", "30s" or "2m"`,
    );
  }
  return Math.round(totalMs);
}
