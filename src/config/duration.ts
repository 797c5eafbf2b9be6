/**
 * Go-style durations (`250ms`, `30s`, `5m`, `1h30m`, `1.5h`) as used in
 * relight.yaml. Only the units `ms`, `s`, `m` and `h` are accepted because
 * Relight keeps every duration in whole milliseconds.
 */

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

const DURATION = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h))+$/;
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;

/**
 * Parses a duration into milliseconds, or returns undefined when `text` is
 * not one. A leading `-` is accepted so that callers can reject negative
 * values with a specific message.
 */
export function parseDuration(text: string): number | undefined {
  const negative = text.startsWith("-");
  const body = negative ? text.slice(1) : text;
  if (!DURATION.test(body)) return undefined;

  let total = 0;
  for (const [, amount, unit] of body.matchAll(PART)) {
    total += Number(amount) * (UNIT_MS[unit ?? ""] ?? Number.NaN);
  }
  if (!Number.isFinite(total)) return undefined;

  const ms = Math.round(total);
  return negative ? -ms : ms;
}

/** Formats milliseconds as the shortest Go-style duration, such as `1h30m` or `250ms`. */
export function formatDuration(ms: number): string {
  if (ms === 0) return "0s";

  const parts: string[] = [];
  let rest = ms;
  for (const unit of ["h", "m", "s", "ms"] as const) {
    const size = UNIT_MS[unit] ?? 1;
    const count = Math.floor(rest / size);
    if (count > 0) parts.push(`${count}${unit}`);
    rest -= count * size;
  }
  return parts.join("");
}
