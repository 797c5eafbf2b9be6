/**
 * Turns relight.yaml text into a `Config`: YAML parsing, environment
 * expansion, schema validation, the checks that span several keys, and
 * reading `token_file`. Each step reads the document independently, so
 * every problem is found in one pass and thrown together in one `ConfigError`.
 */
import { dirname, resolve } from "node:path";
import process from "node:process";
import * as v from "valibot";
import { checkExclusiveKeys, checkParsedValues } from "./checks.ts";
import { ConfigDocument, type KeyPath, type Problem } from "./document.ts";
import type { Environment } from "./env.ts";
import { ConfigError } from "./errors.ts";
import { ACME_PRODUCTION, ACME_STAGING, createSchema, type RawConfig } from "./schema.ts";
import type { Config, SiteConfig, SiteSettings, TlsConfig } from "./types.ts";
import { readSlicerToken, type SlicerToken } from "./token.ts";

/** Pattern recorded for the site used when `sites` is omitted. */
export const IMPLICIT_SITE_PATTERN = "(implicit)";

export interface ParseOptions {
  /** File name used in messages and stored as `Config.file`. Default "relight.yaml". */
  file?: string;
  /** Variables for `${VAR}` expansion. Default `process.env`. */
  env?: Environment;
  /** Directory that relative paths are resolved against. Default: the directory of `file`. */
  baseDir?: string;
}

/** A loaded `Config` and the place in the file of each key. */
export interface LocatedConfig {
  config: Config;
  /** Returns `file:line:col` of a key path's value, or of its nearest parent that is in the file. */
  locate(path: KeyPath): string;
}

/**
 * Parses relight.yaml text into a `Config`, reading `slicer.token_file` if
 * set. Throws a `ConfigError` listing every problem found.
 */
export function parseConfig(text: string, options: ParseOptions = {}): Config {
  return parseLocatedConfig(text, options).config;
}

/** Parses relight.yaml text as `parseConfig` does, keeping the position of each key. */
export function parseLocatedConfig(text: string, options: ParseOptions = {}): LocatedConfig {
  const file = options.file ?? "relight.yaml";
  const env = options.env ?? process.env;
  const baseDir = options.baseDir ?? dirname(resolve(file));

  const document = ConfigDocument.parse(text, file);
  if (Array.isArray(document)) throw new ConfigError(document);

  const expansionProblems = document.expandEnvironment(env);
  const converted = document.toJS();
  if ("error" in converted) throw new ConfigError([converted.error]);

  const data = converted.data;
  if (data === null || data === undefined) {
    throw new ConfigError([`${file}:1:1: the file is empty (set at least slicer.url)`]);
  }
  if (typeof data !== "object" || Array.isArray(data)) {
    const found = Array.isArray(data) ? "a list" : "a single value";
    throw new ConfigError([
      `${document.rootPosition()}: the file must be a mapping of keys such as "slicer:", not ${found}`,
    ]);
  }

  const context = { env, baseDir };
  const slicerToken = readSlicerToken(data, context);
  const result = v.safeParse(createSchema(context), data);
  const valueProblems = [
    ...checkParsedValues(data),
    ...slicerToken.problems,
    ...(result.success ? [] : result.issues.map(toProblem)),
  ];

  // A value whose variable failed to expand is reported once, for the variable.
  const expansionPaths = new Set(expansionProblems.map((problem) => JSON.stringify(problem.path)));
  const problems = [
    ...expansionProblems,
    ...checkExclusiveKeys(data),
    ...valueProblems.filter((problem) => !expansionPaths.has(JSON.stringify(problem.path))),
  ];

  if (result.success && problems.length === 0) {
    return {
      config: buildConfig(result.output, file, slicerToken),
      locate: (path) => document.position(path),
    };
  }

  const messages = problems
    .map((problem) => document.format(problem))
    .sort((a, b) => a.offset - b.offset)
    .map((formatted) => formatted.text);
  throw new ConfigError(messages);
}

function toProblem(issue: v.BaseIssue<unknown>): Problem {
  const items = issue.path ?? [];
  const path: (string | number)[] = items.map((item) => {
    const key: unknown = item.key;
    return typeof key === "number" ? key : String(key);
  });
  const last = items[items.length - 1];
  const at = last !== undefined && last.origin === "key" ? "key" : "value";
  return { path, at, message: issue.message };
}

/** Assembles the `Config` from a valid file whose cross-key checks passed. */
function buildConfig(raw: RawConfig, file: string, slicerToken: SlicerToken): Config {
  const defaults: SiteSettings = {
    hostGroup: raw.defaults.host_group,
    idleTimeoutMs: raw.defaults.idle_timeout,
    wakeTimeoutMs: raw.defaults.wake_timeout,
    appPort: raw.defaults.app_port,
  };

  const config: Config = {
    file,
    listen: raw.listen,
    slicer: {
      url: raw.slicer.url.url,
      requestTimeoutMs: raw.slicer.request_timeout,
      ...(slicerToken.token === undefined ? {} : { token: slicerToken.token }),
      ...(slicerToken.tokenFile === undefined ? {} : { tokenFile: slicerToken.tokenFile }),
      ...(raw.slicer.url.socketPath === undefined ? {} : { socketPath: raw.slicer.url.socketPath }),
    },
    watchIntervalMs: raw.watch_interval,
    refreshIntervalMs: raw.refresh_interval,
    defaults,
    sites: buildSites(raw.sites, defaults),
    trustedProxies: raw.trusted_proxies,
    responseTimeoutMs: raw.response_timeout,
    shutdownTimeoutMs: raw.shutdown_timeout,
    log: { level: raw.log.level, format: raw.log.format, access: raw.log.access },
  };

  if (raw.ask) config.ask = { listen: raw.ask.listen };

  if (raw.admin) {
    const token = raw.admin.token ?? "";
    config.admin = { listen: raw.admin.listen, ...(token === "" ? {} : { token }) };
  }

  if (raw.tls) config.tls = buildTls(raw.tls);
  return config;
}

function buildSites(rawSites: RawConfig["sites"], defaults: SiteSettings): SiteConfig[] {
  if (rawSites === null || rawSites === undefined) {
    return [{ pattern: IMPLICIT_SITE_PATTERN, match: { kind: "implicit" }, ...defaults }];
  }

  return rawSites.map((site) => ({
    pattern: site.match.pattern,
    match: site.match.match,
    hostGroup: site.host_group ?? defaults.hostGroup,
    idleTimeoutMs: site.idle_timeout ?? defaults.idleTimeoutMs,
    wakeTimeoutMs: site.wake_timeout ?? defaults.wakeTimeoutMs,
    appPort: site.app_port ?? defaults.appPort,
  }));
}

function buildTls(raw: NonNullable<RawConfig["tls"]>): TlsConfig {
  const tls: TlsConfig = {
    listen: raw.listen,
    certificates: raw.certificates.map((pair) => ({
      certFile: pair.cert_file,
      keyFile: pair.key_file,
    })),
    redirectHttp: raw.redirect_http,
    ...(raw.hsts === null || raw.hsts === undefined ? {} : { hstsMaxAgeSeconds: raw.hsts }),
  };

  const acme = raw.acme;
  if (acme) {
    const directoryUrl = acme.directory_url ?? (acme.staging ? ACME_STAGING : ACME_PRODUCTION);
    tls.acme = {
      directoryUrl,
      storage: acme.storage,
      ...(acme.email ? { email: acme.email } : {}),
      ...(acme.ca_bundle ? { caBundle: acme.ca_bundle } : {}),
    };
  }
  return tls;
}
