/**
 * Named loggers, one per subsystem, through LogTape. Messages are short fixed
 * text with structured properties (`app`, `vm`, `duration_ms`, `error`).
 * Sinks and levels are set by `configureLogging` in `src/logging/`; until
 * then LogTape drops every record, which keeps library code and tests quiet.
 */
import { getLogger as getLogTapeLogger, type Logger } from "@logtape/logtape";

export type { Logger };

/** Returns the logger for one subsystem, such as "proxy", "slicer" or "vm". */
export function getLogger(subsystem: string): Logger {
  return getLogTapeLogger(["relight", subsystem]);
}
