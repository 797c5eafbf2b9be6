/**
 * Redaction of secrets from log records and formatted log lines. A record's
 * properties are redacted by name (any key that looks like a credential) and
 * by value (the configured tokens). The formatted line is scanned again, so a
 * token that a formatter renders from an unusual object is replaced as well.
 */
import type { LogRecord } from "@logtape/logtape";

/** Replacement text for a removed secret. */
export const redacted = "[REDACTED]";

/** Property names whose values are never logged, such as `authorization` or `slicer_token`. */
const secretKeyPattern = /authorization|cookie|token|password|passwd|secret|api[-_]?key/i;

/** A Bearer or Basic credential as written in an `Authorization` header. */
const credentialPattern = /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/gi;

/** Objects nested deeper than this are replaced by `redacted` rather than walked. */
const maxDepth = 8;

/** Removes secrets from text: each configured secret value, then any Bearer or Basic credential. */
export function redactText(text: string, secrets: readonly string[]): string {
  let result = text;
  for (const secret of secrets) {
    if (secret !== "") result = result.replaceAll(secret, redacted);
  }
  return result.replace(credentialPattern, `$1 ${redacted}`);
}

function redactValue(value: unknown, secrets: readonly string[], depth: number): unknown {
  if (typeof value === "string") return redactText(value, secrets);
  if (value === null || typeof value !== "object") return value;
  if (depth >= maxDepth) return redacted;

  if (value instanceof Error) {
    // Only the name and message are kept, because the stack may quote request data.
    const text = value.name === "Error" ? value.message : `${value.name}: ${value.message}`;
    return redactText(text, secrets);
  }
  if (value instanceof Headers) {
    return redactProperties(Object.fromEntries(value.entries()), secrets, depth + 1);
  }
  if (Array.isArray(value)) {
    return value.map((item) => redactValue(item, secrets, depth + 1));
  }
  return redactProperties(value as Record<string, unknown>, secrets, depth + 1);
}

function redactProperties(
  properties: Record<string, unknown>,
  secrets: readonly string[],
  depth: number,
): Record<string, unknown> {
  const result: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(properties)) {
    result[key] = secretKeyPattern.test(key) ? redacted : redactValue(value, secrets, depth);
  }
  return result;
}

/** Returns a copy of `record` with secrets removed from its message values and properties. */
export function redactRecord(record: LogRecord, secrets: readonly string[]): LogRecord {
  return {
    ...record,
    message: record.message.map((part) => redactValue(part, secrets, 0)),
    properties: redactProperties(record.properties, secrets, 0),
  };
}
