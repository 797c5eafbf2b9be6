/**
 * Prints a `Config` back as relight.yaml: every default filled in, durations
 * in Go style and secrets replaced by `<redacted>`. Loading the output again
 * gives the same `Config`, except that an inline token becomes the literal
 * text `<redacted>`.
 */
import { stringify } from "yaml";
import { formatDuration } from "./duration.ts";
import type { Config, SiteSettings } from "./types.ts";
import { formatListenAddress } from "./values.ts";

export const REDACTED = "<redacted>";

/** Formats the effective configuration as YAML, with secrets redacted. */
export function formatEffectiveConfig(config: Config): string {
  const implicit = config.sites.every((site) => site.match.kind === "implicit");

  const document: Record<string, unknown> = {
    listen: formatListenAddress(config.listen),
    slicer: {
      url: config.slicer.url,
      ...slicerToken(config),
      request_timeout: formatDuration(config.slicer.requestTimeoutMs),
    },
    watch_interval: formatDuration(config.watchIntervalMs),
    refresh_interval: formatDuration(config.refreshIntervalMs),
    defaults: formatSettings(config.defaults),
    ...(implicit ? {} : {
      sites: config.sites.map((site) => ({ match: site.pattern, ...formatSettings(site) })),
    }),
    trusted_proxies: config.trustedProxies,
    response_timeout: formatDuration(config.responseTimeoutMs),
    shutdown_timeout: formatDuration(config.shutdownTimeoutMs),
  };

  if (config.ask) document["ask"] = { listen: formatListenAddress(config.ask.listen) };
  if (config.admin) {
    document["admin"] = {
      listen: formatListenAddress(config.admin.listen),
      ...(config.admin.token === undefined ? {} : { token: REDACTED }),
    };
  }
  document["log"] = { ...config.log };
  if (config.tls) document["tls"] = formatTls(config.tls);

  const header = implicit
    ? "# sites is omitted: one implicit site matches every host by exact tag, then first label.\n"
    : "";
  return `# Effective configuration from ${config.file}\n${header}${
    stringify(escapeEnv(document))
  }`;
}

function slicerToken(config: Config): Record<string, string> {
  if (config.slicer.tokenFile !== undefined) return { token_file: config.slicer.tokenFile };
  if (config.slicer.token !== undefined) return { token: REDACTED };
  return {};
}

function formatSettings(settings: SiteSettings): Record<string, unknown> {
  return {
    host_group: settings.hostGroup,
    idle_timeout: formatDuration(settings.idleTimeoutMs),
    wake_timeout: formatDuration(settings.wakeTimeoutMs),
    app_port: settings.appPort,
  };
}

function formatTls(tls: NonNullable<Config["tls"]>): Record<string, unknown> {
  return {
    listen: formatListenAddress(tls.listen),
    certificates: tls.certificates.map((pair) => ({
      cert_file: pair.certFile,
      key_file: pair.keyFile,
    })),
    ...(tls.acme === undefined ? {} : {
      acme: {
        ...(tls.acme.email === undefined ? {} : { email: tls.acme.email }),
        directory_url: tls.acme.directoryUrl,
        ...(tls.acme.caBundle === undefined ? {} : { ca_bundle: tls.acme.caBundle }),
        storage: tls.acme.storage,
      },
    }),
    redirect_http: tls.redirectHttp,
    hsts: tls.hstsMaxAgeSeconds === undefined
      ? false
      : formatDuration(tls.hstsMaxAgeSeconds * 1000),
  };
}

/** Writes a literal `${` as `$${` so that loading the output does not expand it. */
function escapeEnv(value: unknown): unknown {
  if (typeof value === "string") return value.replaceAll("${", () => "$${");
  if (Array.isArray(value)) return value.map(escapeEnv);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, escapeEnv(item)]));
  }
  return value;
}
