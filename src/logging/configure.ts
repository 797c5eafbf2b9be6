/**
 * Sets up LogTape for the whole process from the `log` section of
 * relight.yaml: one sink that writes logfmt text or JSON lines, secret
 * redaction on every line, counting of repeated warnings and errors, and the
 * optional access log.
 */
import {
  configureSync,
  getJsonLinesFormatter,
  getLogfmtFormatter,
  type LogRecord,
  resetSync,
  type TextFormatter,
} from "@logtape/logtape";
import process from "node:process";
import type { LogConfig } from "../config/types.ts";
import { getLogger } from "../log.ts";
import { accessLogCategory, accessLogChanged } from "./access.ts";
import { LineWriter } from "./line-writer.ts";
import { redactRecord, redactText } from "./redact.ts";
import { createRepeatFilter, type RepeatFilter } from "./repeats.ts";

/** Default time after which counts of repeated warnings and errors are logged, in ms. */
export const defaultRepeatIntervalMs = 60_000;

export interface LoggingOptions {
  /** Secret values replaced by `[REDACTED]` wherever they appear, such as the slicerd and admin tokens. */
  secrets?: readonly (string | undefined)[];
  /**
   * Receives each formatted line, newline included, and whether it is an
   * access or debug line that may be dropped behind a slow reader. Default:
   * writes to stderr.
   */
  write?: (line: string, droppable: boolean) => void;
  /**
   * Interval in ms at which repeated warnings and errors are summarised.
   * Default 60 s; 0 turns the timer off, so only `flushRepeats()` logs counts.
   */
  repeatIntervalMs?: number;
}

export interface LoggingHandle {
  /** Logs the counts of repeated warnings and errors now. */
  flushRepeats(): void;
  /** Logs the remaining counts and detaches the sink; later records are dropped. */
  close(): void;
}

let current: RepeatFilter | undefined;

function selectFormatter(format: LogConfig["format"]): TextFormatter {
  if (format === "json") {
    const formatJson = getJsonLinesFormatter({ categorySeparator: ".", properties: "flatten" });
    // LogTape 2.4.2 writes JSON levels in upper case with "warning" as "WARN",
    // and offers no option for it. Each line starts with "@timestamp" and then
    // "level", so the first "level" field is the record's own and is replaced
    // by the name that log.level and the text format use.
    return (record) => formatJson(record).replace(/"level":"[A-Z]+"/, `"level":"${record.level}"`);
  }
  return getLogfmtFormatter();
}

const logger = getLogger("logging");

/** The writer of every log line that goes to stderr, made on first use. */
let stderrLines: LineWriter | undefined;

function writeToStderr(line: string, droppable: boolean): void {
  if (stderrLines === undefined) {
    // A reader that went away (EPIPE) makes stderr emit an error, which
    // without a listener would end the process. The lines then go nowhere.
    process.stderr.on("error", () => undefined);
    stderrLines = new LineWriter(process.stderr, {
      onResume: (dropped) =>
        queueMicrotask(() => logger.warning("log lines dropped", { count: dropped })),
    });
  }
  stderrLines.write(line, droppable);
}

/**
 * Resolves true once every log line written to stderr has left the
 * process, or false after `timeoutMs`. Exiting earlier loses the lines that
 * a slow reader has not taken yet.
 */
export function drainLogs(timeoutMs: number): Promise<boolean> {
  return stderrLines?.drained(timeoutMs) ?? Promise.resolve(true);
}

/**
 * Configures logging for the process, replacing any earlier configuration,
 * so a config reload calls it again with the new settings and secrets.
 */
export function configureLogging(log: LogConfig, options: LoggingOptions = {}): LoggingHandle {
  current?.close();

  const secrets = (options.secrets ?? []).filter((s): s is string => s !== undefined && s !== "");
  const formatter = selectFormatter(log.format);
  const write = options.write ?? writeToStderr;
  const repeats = createRepeatFilter(options.repeatIntervalMs ?? defaultRepeatIntervalMs);
  current = repeats;

  const sink = (record: LogRecord) => {
    const line = formatter(redactRecord(record, secrets));
    // Only the access log and debug lines come once per request, so only
    // they are dropped behind a stalled reader.
    const droppable = record.level === "debug" || record.category[1] === accessLogCategory[1];
    write(redactText(line, secrets), droppable);
  };

  configureSync({
    reset: true,
    sinks: { main: sink },
    filters: { repeats: repeats.filter },
    loggers: [
      { category: ["relight"], sinks: ["main"], filters: ["repeats"], lowestLevel: log.level },
      {
        // The access log has its own switch and is written at any `log.level`.
        category: accessLogCategory,
        sinks: ["main"],
        parentSinks: "override",
        lowestLevel: log.access ? "info" : null,
      },
      { category: ["logtape", "meta"], sinks: ["main"], lowestLevel: "warning" },
    ],
  });
  accessLogChanged();

  return {
    flushRepeats: () => repeats.flush(),
    close() {
      // Reported now, because after the reset no record reaches the sink.
      const dropped = stderrLines?.takeDropped() ?? 0;
      if (dropped > 0) logger.warning("log lines dropped", { count: dropped });
      repeats.close();
      if (current === repeats) current = undefined;
      resetSync();
      accessLogChanged();
    },
  };
}
