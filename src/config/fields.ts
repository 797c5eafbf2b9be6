/**
 * valibot schemas for the value kinds in relight.yaml: durations, listen
 * addresses, ports, paths, site patterns and IP ranges. Each issue message
 * starts with the bad value (or "is required") and states what would be
 * valid. The caller adds the key path and the file position.
 */
import * as v from "valibot";
import { formatDuration, parseDuration } from "./duration.ts";
import type { Environment } from "./env.ts";
import { nearest } from "./suggest.ts";
import { expandPath, isAddressOrRange, parseSitePattern, readListenAddress } from "./values.ts";

/** Inputs besides the document: the environment and the directory relative paths start at. */
export interface SchemaContext {
  env: Environment;
  baseDir: string;
}

/** Describes a YAML value for an error message: strings quoted, collections by kind. */
export function describe(value: unknown): string {
  if (value === null) return "an empty value";
  if (Array.isArray(value)) return "a list";
  // The yaml library turns `!!binary` into a Uint8Array and `!!timestamp` into a Date.
  if (value instanceof Uint8Array) return "binary data";
  if (value instanceof Date) return "a timestamp";
  if (typeof value === "object") return "a mapping";
  if (typeof value === "string") return JSON.stringify(value);
  return String(value);
}

/** Builds the message for a value of the wrong kind, or for a missing required one. */
export function expected(validForm: string): (issue: v.BaseIssue<unknown>) => string {
  return (issue) =>
    issue.input === undefined
      ? `is required (${validForm})`
      : `${describe(issue.input)} is not ${validForm}`;
}

/** Builds a mapping schema that rejects unknown keys and suggests the nearest known key. */
export function strict<const TEntries extends v.ObjectEntries>(entries: TEntries, moved = {}) {
  const known = Object.keys(entries);
  const movedKeys: Record<string, string> = moved;

  return v.strictObject(entries, (issue) => {
    if (issue.expected !== "never") {
      // valibot reports a missing required key through its parent mapping, so
      // the message comes from the schema that the key would have had.
      const key = issue.path?.[issue.path.length - 1]?.key;
      const entry: unknown = typeof key === "string" ? entries[key] : undefined;
      if (issue.input === undefined && hasMessageFunction(entry)) return entry.message(issue);
      return expected("a mapping of keys")(issue);
    }

    const key = String(issue.input);
    const destination = movedKeys[key];
    if (destination !== undefined) return `unknown key "${key}" (it is now ${destination})`;

    const suggestion = nearest(key, known);
    const hint = suggestion === undefined
      ? `valid keys are ${known.join(", ")}`
      : `did you mean "${suggestion}"?`;
    return `unknown key "${key}" (${hint})`;
  });
}

function hasMessageFunction(
  schema: unknown,
): schema is { message: (issue: v.BaseIssue<unknown>) => string } {
  return typeof schema === "object" && schema !== null && "message" in schema &&
    typeof schema.message === "function";
}

/**
 * Largest delay that `setTimeout` and `setInterval` accept, in ms (2^31 - 1,
 * about 24.8 days). A larger delay makes the timer fire after about 1 ms
 * instead (Node's documented behaviour, and checked on Bun 1.4.5 and Deno
 * 2.9.6), so every duration key has a maximum no larger than this.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

interface DurationRule {
  /** Minimum value in ms. Negative values are always rejected, and zero unless `allowZero`. */
  minMs?: number;
  /** Maximum value in ms, at most `MAX_TIMER_MS`. */
  maxMs: number;
  allowZero?: boolean;
}

/** Builds a schema for a Go-style duration string, output in milliseconds. */
export function duration(rule: DurationRule) {
  if (rule.maxMs > MAX_TIMER_MS) {
    throw new RangeError(`duration maximum ${rule.maxMs} ms is above the timer limit`);
  }
  const validForm = `a duration (use e.g. "30s" or "5m")`;

  return v.pipe(
    v.string(expected(validForm)),
    v.rawTransform(({ dataset, addIssue, NEVER }) => {
      const text = dataset.value;
      const ms = parseDuration(text);

      if (ms === undefined) {
        addIssue({ message: `${describe(text)} is not ${validForm}` });
        return NEVER;
      }
      if (ms < 0) {
        addIssue({
          message: `${describe(text)} is negative (use a positive duration such as "30s")`,
        });
        return NEVER;
      }
      if (ms === 0 && rule.allowZero !== true) {
        addIssue({ message: `${describe(text)} must be greater than zero` });
        return NEVER;
      }
      if (rule.minMs !== undefined && ms < rule.minMs) {
        addIssue({
          message: `${describe(text)} is below the minimum of ${formatDuration(rule.minMs)}`,
        });
        return NEVER;
      }
      if (ms > rule.maxMs) {
        addIssue({
          message: `${describe(text)} is above the maximum of ${formatDuration(rule.maxMs)}`,
        });
        return NEVER;
      }
      return ms;
    }),
  );
}

export function listenAddress() {
  const validForm = `a listen address (use host:port, e.g. "127.0.0.1:8080" or ":8080")`;

  return v.pipe(
    v.string(expected(validForm)),
    v.rawTransform(({ dataset, addIssue, NEVER }) => {
      const result = readListenAddress(dataset.value);
      if ("address" in result) return result.address;

      const message = result.error === "host"
        ? `${describe(dataset.value)} has an invalid host ${
          describe(result.host)
        } (use an IPv4 address such as 127.0.0.1, a bracketed IPv6 address such as [::1], or an RFC 1123 hostname such as localhost)`
        : `${describe(dataset.value)} is not ${validForm}`;
      addIssue({ message });
      return NEVER;
    }),
  );
}

export function port() {
  const message = expected("a port number (use 1 to 65535)");
  return v.pipe(
    v.number(message),
    v.integer(message),
    v.minValue(1, message),
    v.maxValue(65535, message),
  );
}

export function text(validForm: string) {
  const message = expected(validForm);
  return v.pipe(v.string(message), v.nonEmpty(message));
}

/**
 * Builds a schema for a bearer token. Its error names only the kind of the
 * bad value, never the value, because a token must not appear in any output.
 */
export function token() {
  const typed = v.string((issue) => {
    const input = issue.input;
    if (input === undefined) return "is required (a token string)";

    const kind = typeof input === "object" ? describe(input) : `a ${typeof input}`;
    return `is ${kind}, not a token string (quote the value, e.g. token: "...")`;
  });
  return v.pipe(typed, v.check((value) => isTokenText(value), TOKEN_TEXT_MESSAGE));
}

/**
 * Message for a token that `isTokenText` rejects. Like every token message,
 * it never contains the value.
 */
export const TOKEN_TEXT_MESSAGE =
  "contains a space, a control character or a non-ASCII character (a token is sent in an HTTP Authorization header, so use printable ASCII only)";

/**
 * Reports whether a token is empty or only printable ASCII (0x21 to 0x7E).
 * A space, line break or other control character would make every request
 * that carries the token fail, or let it add a header of its own.
 */
export function isTokenText(value: string): boolean {
  return /^[\x21-\x7e]*$/.test(value);
}

export function flag() {
  return v.boolean(expected("true or false"));
}

/** Builds a schema for a filesystem path, expanding `~` and resolving relative paths. */
export function path(context: SchemaContext, validForm: string) {
  return v.pipe(
    text(validForm),
    v.transform((value) => expandPath(value, context.env, context.baseDir)),
  );
}

/** `slicer.url`: an http(s) base URL, or a unix socket path (optionally written `unix:PATH`). */
export function slicerUrl(context: SchemaContext) {
  const validForm =
    `a unix socket path or an http(s) URL (e.g. "~/slicer-mac/slicer.sock" or "http://127.0.0.1:8081")`;

  return v.pipe(
    text(validForm),
    v.rawTransform(({ dataset, addIssue, NEVER }) => {
      const value = dataset.value;

      if (/^https?:\/\//i.test(value)) {
        const problem = urlProblem(
          value,
          validForm,
          "remove it, and put the Slicer API token in slicer.token or slicer.token_file",
        );
        if (problem !== undefined) {
          addIssue({ message: problem });
          return NEVER;
        }
        // Relight appends API paths to this URL, and a query string here
        // would be printed and logged, so a token passed in it would leak.
        if (/[?#]/.test(value)) {
          const redacted = describe(redactUserinfo(value).replace(/([?#]).*$/s, "$1<redacted>"));
          addIssue({
            message:
              `${redacted} has a query string or fragment, which is not supported (remove it, and put the Slicer API token in slicer.token or slicer.token_file)`,
          });
          return NEVER;
        }
        return { url: value.replace(/\/+$/, "") };
      }
      if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) {
        addIssue({ message: `${describe(redactUserinfo(value))} is not ${validForm}` });
        return NEVER;
      }

      const raw = value.startsWith("unix:") ? value.slice("unix:".length) : value;
      const socketPath = expandPath(raw, context.env, context.baseDir);
      return { url: `unix:${socketPath}`, socketPath };
    }),
  );
}

/** `tls.acme.directory_url`: an http(s) URL without a user name or password. */
export function directoryUrl(example: string) {
  const validForm = `an ACME directory URL (e.g. "${example}")`;

  return v.pipe(
    text(validForm),
    v.rawTransform(({ dataset, addIssue, NEVER }) => {
      const value = dataset.value;
      const problem = /^https?:\/\//i.test(value)
        ? urlProblem(value, validForm, "remove it, because the ACME account key identifies Relight")
        : `${describe(redactUserinfo(value))} is not ${validForm}`;
      if (problem === undefined) return value;

      addIssue({ message: problem });
      return NEVER;
    }),
  );
}

/**
 * Checks an http(s) URL, returning the message for a URL that cannot be
 * parsed or that has a user name or password. The message never contains
 * the user name or password, because they are secrets.
 */
function urlProblem(value: string, validForm: string, fix: string): string | undefined {
  if (!URL.canParse(value)) return `${describe(redactUserinfo(value))} is not ${validForm}`;

  const url = new URL(value);
  if (url.username === "" && url.password === "") return undefined;
  const redacted = describe(redactUserinfo(value));
  return `${redacted} contains a user name or password, which is not supported (${fix})`;
}

/** Replaces the user name and password of a URL written `scheme://user:pass@host` with `<redacted>`. */
export function redactUserinfo(text: string): string {
  return text.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/?#]*@/i, "$1<redacted>@");
}

export function sitePattern() {
  const validForm =
    `a valid match pattern (use "*", "*.example.com" or an exact hostname such as "app.example.com")`;

  return v.pipe(
    v.string(expected(validForm)),
    v.rawTransform(({ dataset, addIssue, NEVER }) => {
      const parsed = parseSitePattern(dataset.value);
      if (parsed !== undefined) return parsed;

      addIssue({ message: `${describe(dataset.value)} is not ${validForm}` });
      return NEVER;
    }),
  );
}

export function addressOrRange() {
  const validForm = `an IP address or CIDR range (e.g. "10.0.0.1" or "10.0.0.0/8")`;
  return v.pipe(
    v.string(expected(validForm)),
    v.check(isAddressOrRange, expected(validForm)),
  );
}

export function list<TItem extends v.GenericSchema>(item: TItem) {
  return v.array(item, expected("a list"));
}

/** `tls.hsts`: true (one year), false (off) or a max-age duration; output in seconds or undefined. */
export function hsts() {
  const validForm = `true, false or a max-age duration (e.g. "8760h")`;

  return v.pipe(
    v.union([v.boolean(), v.string()], expected(validForm)),
    v.rawTransform(({ dataset, addIssue, NEVER }) => {
      const value = dataset.value;
      if (value === true) return 31_536_000;
      if (value === false) return undefined;

      const ms = parseDuration(value);
      if (ms === undefined || ms < 1000) {
        addIssue({ message: `${describe(value)} is not ${validForm}` });
        return NEVER;
      }
      return Math.floor(ms / 1000);
    }),
  );
}

const HOUR_MS = 3_600_000;

/**
 * Maximum of each duration key, in ms. Intervals and timeouts stop at an
 * hour or a day, well past any useful value. `idle_timeout` may keep a VM
 * running for up to 24 days (576h), just under `MAX_TIMER_MS`.
 */
export const DURATION_MAX_MS = {
  requestTimeout: HOUR_MS,
  wakeTimeout: HOUR_MS,
  watchInterval: 24 * HOUR_MS,
  refreshInterval: 24 * HOUR_MS,
  shutdownTimeout: 24 * HOUR_MS,
  responseTimeout: 24 * HOUR_MS,
  idleTimeout: 576 * HOUR_MS,
} as const;

/** Value schemas of the settings that `defaults` sets and each site may override. */
export function siteSettings() {
  return {
    host_group: text("a host group name"),
    idle_timeout: duration({ minMs: 30_000, maxMs: DURATION_MAX_MS.idleTimeout }),
    wake_timeout: duration({ maxMs: DURATION_MAX_MS.wakeTimeout }),
    app_port: port(),
  };
}
