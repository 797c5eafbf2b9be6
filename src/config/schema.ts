/**
 * The valibot schema for relight.yaml as written. It checks every key and
 * value, fills in defaults and turns durations into milliseconds. `parse.ts`
 * then adds the checks that span several keys and builds the `Config`.
 *
 * Every issue message here starts with the bad value (or "is required") and
 * says what would be valid. The caller adds the key path and the file position.
 */
import * as v from "valibot";
import { formatDuration, parseDuration } from "./duration.ts";
import type { Environment } from "./env.ts";
import { nearest } from "./suggest.ts";
import { expandPath, isAddressOrRange, parseListenAddress, parseSitePattern } from "./values.ts";

/** Inputs besides the document: the environment and the directory relative paths start at. */
export interface SchemaContext {
  env: Environment;
  baseDir: string;
}

/** Default directory URLs for ACME (Let's Encrypt). */
export const ACME_PRODUCTION = "https://acme-v02.api.letsencrypt.org/directory";
export const ACME_STAGING = "https://acme-staging-v02.api.letsencrypt.org/directory";

/** Old Caddy module directives and top-level mistakes, mapped to where the key lives now. */
const MOVED_KEYS: Record<string, string> = {
  slicer_url: "slicer.url",
  slicer_token: "slicer.token",
  ask_listen: "ask.listen",
  host_group: "defaults.host_group",
  idle_timeout: "defaults.idle_timeout",
  wake_timeout: "defaults.wake_timeout",
  app_port: "defaults.app_port",
};

/** Describes a YAML value for an error message: strings quoted, collections by kind. */
export function describe(value: unknown): string {
  if (value === null) return "an empty value";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  if (typeof value === "string") return JSON.stringify(value);
  return String(value);
}

/** Builds the message for a value of the wrong kind, or for a missing required one. */
function expected(validForm: string): (issue: v.BaseIssue<unknown>) => string {
  return (issue) =>
    issue.input === undefined
      ? `is required (${validForm})`
      : `${describe(issue.input)} is not ${validForm}`;
}

/** Builds a mapping schema that rejects unknown keys and suggests the nearest known key. */
function strict<const TEntries extends v.ObjectEntries>(entries: TEntries, moved = {}) {
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

interface DurationRule {
  /** Minimum value in ms. Negative values are always rejected, and zero unless `allowZero`. */
  minMs?: number;
  allowZero?: boolean;
}

/** Builds a schema for a Go-style duration string, output in milliseconds. */
function duration(rule: DurationRule = {}) {
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
      return ms;
    }),
  );
}

function listenAddress() {
  const validForm = `a listen address (use host:port, e.g. "127.0.0.1:8080" or ":8080")`;

  return v.pipe(
    v.string(expected(validForm)),
    v.rawTransform(({ dataset, addIssue, NEVER }) => {
      const address = parseListenAddress(dataset.value);
      if (address !== undefined) return address;

      addIssue({ message: `${describe(dataset.value)} is not ${validForm}` });
      return NEVER;
    }),
  );
}

function port() {
  const message = expected("a port number (use 1 to 65535)");
  return v.pipe(
    v.number(message),
    v.integer(message),
    v.minValue(1, message),
    v.maxValue(65535, message),
  );
}

function text(validForm: string) {
  const message = expected(validForm);
  return v.pipe(v.string(message), v.nonEmpty(message));
}

function flag() {
  return v.boolean(expected("true or false"));
}

/** Builds a schema for a filesystem path, expanding `~` and resolving relative paths. */
function path(context: SchemaContext, validForm: string) {
  return v.pipe(
    text(validForm),
    v.transform((value) => expandPath(value, context.env, context.baseDir)),
  );
}

/** `slicer.url`: an http(s) base URL, or a unix socket path (optionally written `unix:PATH`). */
function slicerUrl(context: SchemaContext) {
  const validForm =
    `a unix socket path or an http(s) URL (e.g. "~/slicer-mac/slicer.sock" or "http://127.0.0.1:8081")`;

  return v.pipe(
    text(validForm),
    v.rawTransform(({ dataset, addIssue, NEVER }) => {
      const value = dataset.value;

      if (/^https?:\/\//i.test(value)) {
        if (!URL.canParse(value)) {
          addIssue({ message: `${describe(value)} is not ${validForm}` });
          return NEVER;
        }
        return { url: value.replace(/\/+$/, "") };
      }
      if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) {
        addIssue({ message: `${describe(value)} is not ${validForm}` });
        return NEVER;
      }

      const raw = value.startsWith("unix:") ? value.slice("unix:".length) : value;
      const socketPath = expandPath(raw, context.env, context.baseDir);
      return { url: `unix:${socketPath}`, socketPath };
    }),
  );
}

function sitePattern() {
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

function addressOrRange() {
  const validForm = `an IP address or CIDR range (e.g. "10.0.0.1" or "10.0.0.0/8")`;
  return v.pipe(
    v.string(expected(validForm)),
    v.check(isAddressOrRange, expected(validForm)),
  );
}

function list<TItem extends v.GenericSchema>(item: TItem) {
  return v.array(item, expected("a list"));
}

/** `tls.hsts`: true (one year), false (off) or a max-age duration; output in seconds or undefined. */
function hsts() {
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

/** Value schemas of the settings that `defaults` sets and each site may override. */
function siteSettings() {
  return {
    host_group: text("a host group name"),
    idle_timeout: duration({ minMs: 30_000 }),
    wake_timeout: duration(),
    app_port: port(),
  };
}

/** Builds the schema of the whole file. */
export function createSchema(context: SchemaContext) {
  const settings = siteSettings();

  return strict({
    listen: v.nullish(listenAddress(), "127.0.0.1:8080"),
    slicer: strict({
      url: slicerUrl(context),
      token: v.nullish(v.string(expected("a token string"))),
      token_file: v.nullish(path(context, "a file path")),
      request_timeout: v.nullish(duration(), "10s"),
    }),
    watch_interval: v.nullish(duration({ minMs: 1000 }), "30s"),
    refresh_interval: v.nullish(duration({ minMs: 1000 }), "5s"),
    defaults: v.nullish(
      strict({
        host_group: v.nullish(settings.host_group, "apps"),
        idle_timeout: v.nullish(settings.idle_timeout, "5m"),
        wake_timeout: v.nullish(settings.wake_timeout, "30s"),
        app_port: v.nullish(settings.app_port, 8080),
      }),
      {},
    ),
    sites: v.nullish(
      v.pipe(
        list(
          strict({
            match: sitePattern(),
            host_group: v.nullish(settings.host_group),
            idle_timeout: v.nullish(settings.idle_timeout),
            wake_timeout: v.nullish(settings.wake_timeout),
            app_port: v.nullish(settings.app_port),
          }),
        ),
        v.minLength(
          1,
          "is an empty list (list at least one site, or omit sites to match every host)",
        ),
      ),
    ),
    trusted_proxies: v.nullish(list(addressOrRange()), []),
    shutdown_timeout: v.nullish(duration({ allowZero: true }), "30s"),
    ask: v.nullish(strict({ listen: listenAddress() })),
    admin: v.nullish(
      strict({
        listen: v.nullish(listenAddress(), "127.0.0.1:9090"),
        token: v.nullish(v.string(expected("a token string"))),
      }),
    ),
    log: v.nullish(
      strict({
        level: v.nullish(
          v.picklist(
            ["debug", "info", "warning", "error"],
            expected(`a log level (use "debug", "info", "warning" or "error")`),
          ),
          "info",
        ),
        format: v.nullish(
          v.picklist(["text", "json"], expected(`a log format (use "text" or "json")`)),
          "text",
        ),
        access: v.nullish(flag(), false),
      }),
      {},
    ),
    tls: v.nullish(
      strict({
        listen: v.nullish(listenAddress(), ":443"),
        certificates: v.nullish(
          list(
            strict({
              cert_file: path(context, "a certificate file path"),
              key_file: path(context, "a private key file path"),
            }),
          ),
          [],
        ),
        acme: v.nullish(
          strict({
            email: v.nullish(
              v.pipe(
                v.string(expected("an email address")),
                v.email(expected("an email address")),
              ),
            ),
            directory_url: v.nullish(
              v.pipe(
                text("an ACME directory URL"),
                v.check(
                  (value) => /^https?:\/\//i.test(value) && URL.canParse(value),
                  expected(`an ACME directory URL (e.g. "${ACME_PRODUCTION}")`),
                ),
              ),
            ),
            staging: v.nullish(flag(), false),
            ca_bundle: v.nullish(path(context, "a PEM file path")),
            storage: v.nullish(path(context, "a directory path"), ".relight/acme"),
          }),
        ),
        redirect_http: v.nullish(flag(), false),
        hsts: v.nullish(hsts()),
      }),
    ),
  }, MOVED_KEYS);
}

/** The file's content after validation, before the checks that span keys. */
export type RawConfig = v.InferOutput<ReturnType<typeof createSchema>>;
