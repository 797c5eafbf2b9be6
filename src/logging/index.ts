export { type AccessEntry, type FinishedExchange, logAccess, logExchange } from "./access.ts";
export {
  configureLogging,
  defaultRepeatIntervalMs,
  drainLogs,
  type LoggingHandle,
  type LoggingOptions,
} from "./configure.ts";
export { redacted, redactText } from "./redact.ts";
