/**
 * The valibot schema for relight.yaml as written. It checks every key and
 * value, fills in defaults and turns durations into milliseconds. The rules
 * that span several keys are in `checks.ts`.
 */
import * as v from "valibot";
import {
  addressOrRange,
  directoryUrl,
  duration,
  DURATION_MAX_MS,
  expected,
  flag,
  hsts,
  list,
  listenAddress,
  path,
  type SchemaContext,
  sitePattern,
  siteSettings,
  slicerUrl,
  strict,
  token,
} from "./fields.ts";

export type { SchemaContext };

/** Default listen addresses, also used by the checks that compare listeners. */
export const DEFAULT_LISTEN = "127.0.0.1:8080";
export const DEFAULT_ADMIN_LISTEN = "127.0.0.1:9090";
export const DEFAULT_TLS_LISTEN = ":443";

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

/** Builds the schema of the whole file. */
export function createSchema(context: SchemaContext) {
  const settings = siteSettings();

  return strict({
    listen: v.nullish(listenAddress(), DEFAULT_LISTEN),
    slicer: strict({
      url: slicerUrl(context),
      token: v.nullish(token()),
      token_file: v.nullish(path(context, "a file path")),
      request_timeout: v.nullish(duration({ maxMs: DURATION_MAX_MS.requestTimeout }), "10s"),
    }),
    watch_interval: v.nullish(
      duration({ minMs: 1000, maxMs: DURATION_MAX_MS.watchInterval }),
      "30s",
    ),
    refresh_interval: v.nullish(
      duration({ minMs: 1000, maxMs: DURATION_MAX_MS.refreshInterval }),
      "5s",
    ),
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
    response_timeout: v.nullish(
      duration({ minMs: 1000, maxMs: DURATION_MAX_MS.responseTimeout }),
      "5m",
    ),
    shutdown_timeout: v.nullish(
      duration({ allowZero: true, maxMs: DURATION_MAX_MS.shutdownTimeout }),
      "30s",
    ),
    ask: v.nullish(strict({ listen: listenAddress() })),
    admin: v.nullish(
      strict({
        listen: v.nullish(listenAddress(), DEFAULT_ADMIN_LISTEN),
        token: v.nullish(token()),
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
        listen: v.nullish(listenAddress(), DEFAULT_TLS_LISTEN),
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
            // rfcEmail accepts any local@domain address, such as a@b.c or
            // ops@localhost, which valibot's stricter email() rejects.
            email: v.nullish(
              v.pipe(
                v.string(expected("an email address")),
                v.rfcEmail(expected("an email address")),
              ),
            ),
            directory_url: v.nullish(directoryUrl(ACME_PRODUCTION)),
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
