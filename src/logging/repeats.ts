/**
 * Counting of repeated warnings and errors. The first record of each kind in
 * an interval is logged and later identical ones are counted. When the
 * interval ends, one "log message repeated" warning per kind reports the
 * count. LogTape's throttling filter does the counting, and this module
 * starts a fresh one per interval so that counts are reported even when the
 * errors stop.
 */
import {
  compareLogLevel,
  type Filter,
  getLogger,
  getThrottlingFilter,
  type LogRecord,
  type ThrottlingFilterSummary,
} from "@logtape/logtape";
import { clearInterval, setInterval } from "node:timers";

/** Category of the summary records, which are never counted themselves. */
export const repeatSummaryCategory = ["relight", "logging"];

/** Message of a summary record. */
export const repeatSummaryMessage = "log message repeated";

export interface RepeatFilter {
  readonly filter: Filter;
  /** Logs the counts of the current interval now and starts a new one. */
  flush(): void;
  /** Logs the remaining counts and stops the interval timer. */
  close(): void;
}

function isSummaryRecord(record: LogRecord): boolean {
  return record.category.length === repeatSummaryCategory.length &&
    record.category.every((part, i) => part === repeatSummaryCategory[i]);
}

/**
 * Derives the key under which records count as identical: category, level,
 * message template and every string property (app, vm, error text).
 * Numbers such as durations are left out, because they differ between
 * otherwise identical failures.
 */
function repeatKey(record: LogRecord): string {
  const parts: unknown[] = [record.category, record.level, record.rawMessage];
  for (const [key, value] of Object.entries(record.properties)) {
    if (typeof value === "string") parts.push([key, value]);
    if (value instanceof Error) parts.push([key, value.message]);
  }
  return JSON.stringify(parts);
}

function logSummary(summary: ThrottlingFilterSummary, intervalMs: number): void {
  const first = summary.firstRecord;
  const details: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(first.properties)) {
    if (typeof value === "string" || value instanceof Error) details[key] = value;
  }
  getLogger(repeatSummaryCategory).warning(repeatSummaryMessage, {
    ...details,
    repeated_category: first.category.join("."),
    repeated_message: typeof first.rawMessage === "string"
      ? first.rawMessage
      : first.rawMessage.join("{}"),
    repeated: summary.suppressed,
    interval_ms: intervalMs,
  });
}

/**
 * Creates a filter that passes records below `warning` untouched, passes the
 * first warning or error of each kind per `intervalMs`, and counts the rest.
 * With `intervalMs` 0 no timer runs and counts are logged only by `flush()`.
 */
export function createRepeatFilter(intervalMs: number): RepeatFilter {
  const makeThrottle = () =>
    getThrottlingFilter({
      limit: 1,
      // The timer below ends each interval, so the window only has to outlast it.
      windowMs: Number.MAX_SAFE_INTEGER,
      key: repeatKey,
      summary: {
        logger: {
          warning: (_message, properties) =>
            logSummary(properties as unknown as ThrottlingFilterSummary, intervalMs),
        },
      },
    });
  let throttle = makeThrottle();

  const flush = () => {
    const finished = throttle;
    throttle = makeThrottle();
    finished[Symbol.dispose]();
  };

  const timer = intervalMs > 0 ? setInterval(flush, intervalMs) : undefined;
  timer?.unref();

  const filter: Filter = (record) => {
    if (compareLogLevel(record.level, "warning") < 0) return true;
    if (isSummaryRecord(record)) return true;
    return throttle(record);
  };

  return {
    filter,
    flush,
    close() {
      if (timer) clearInterval(timer);
      flush();
    },
  };
}
