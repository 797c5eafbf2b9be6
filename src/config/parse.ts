/**
 * Turns relight.yaml text into a `Config`: YAML parsing, environment
 * expansion, schema validation, the checks that span several keys, and
 * reading `token_file`. Every problem found is collected and thrown together
 * in one `ConfigError`.
 */
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import process from "node:process";
import * as v from "valibot";
import { checkExclusiveKeys, checkListenersDistinct, type Report } from "./checks.ts";
import { ConfigDocument, type KeyPath, type Problem } from "./document.ts";
import type { Environment } from "./env.ts";
import { ConfigError } from "./errors.ts";
import { ACME_PRODUCTION, ACME_STAGING, createSchema, type RawConfig } from "./schema.ts";
import type { Config, SiteConfig, SiteSettings, TlsConfig } from "./types.ts";
import { formatListenAddress, isLoopback } from "./values.ts";

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

/**
 * Parses relight.yaml text into a `Config`, reading `slicer.token_file` if
 * set. Throws a `ConfigError` listing every problem found.
 */
export function parseConfig(text: string, options: ParseOptions = {}): Config {
  const file = options.file ?? "relight.yaml";
  const env = options.env ?? process.env;
  const baseDir = options.baseDir ?? dirname(resolve(file));

  const document = ConfigDocument.parse(text, file);
  if (Array.isArray(document)) throw new ConfigError(document);

  const problems = document.expandEnvironment(env);
  const data = document.toJS();
  if (data === null || data === undefined) {
    throw new ConfigError([`${file}:1:1: the file is empty (set at least slicer.url)`]);
  }
  problems.push(...checkExclusiveKeys(data));

  const result = v.safeParse(createSchema({ env, baseDir }), data);

  // NOTE: the checks that need parsed values (admin.token for a public
  // admin.listen, listener clashes, reading token_file) run only once every
  // value is valid, so fixing the first problems can reveal more.
  if (result.success) {
    if (problems.length === 0) {
      const built = buildConfig(result.output, file);
      if (built.problems.length === 0) return built.config;
      problems.push(...built.problems);
    }
  } else {
    // A value whose variable failed to expand is reported once, for the variable.
    const expansionPaths = new Set(problems.map((problem) => JSON.stringify(problem.path)));
    for (const issue of result.issues) {
      const problem = toProblem(issue);
      if (!expansionPaths.has(JSON.stringify(problem.path))) problems.push(problem);
    }
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

/** Applies the checks that span keys and assembles the `Config`. */
function buildConfig(raw: RawConfig, file: string): { config: Config; problems: Problem[] } {
  const problems: Problem[] = [];
  const report = (path: KeyPath, message: string, at: "key" | "value" = "value") => {
    problems.push({ path, at, message });
  };

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
      ...readSlicerToken(raw.slicer, report),
      ...(raw.slicer.url.socketPath === undefined ? {} : { socketPath: raw.slicer.url.socketPath }),
    },
    watchIntervalMs: raw.watch_interval,
    refreshIntervalMs: raw.refresh_interval,
    defaults,
    sites: buildSites(raw.sites, defaults, report),
    trustedProxies: raw.trusted_proxies,
    shutdownTimeoutMs: raw.shutdown_timeout,
    log: { level: raw.log.level, format: raw.log.format, access: raw.log.access },
  };

  if (raw.ask) config.ask = { listen: raw.ask.listen };

  if (raw.admin) {
    const token = raw.admin.token ?? "";
    config.admin = { listen: raw.admin.listen, ...(token === "" ? {} : { token }) };
    if (token === "" && !isLoopback(raw.admin.listen.hostname)) {
      report(
        ["admin", "listen"],
        `"${
          formatListenAddress(raw.admin.listen)
        }" is not a loopback address, so admin.token is required (set admin.token, or listen on 127.0.0.1)`,
      );
    }
  }

  if (raw.tls) config.tls = buildTls(raw.tls);

  checkListenersDistinct(config, report);
  return { config, problems };
}

function readSlicerToken(
  slicer: RawConfig["slicer"],
  report: Report,
): { token?: string; tokenFile?: string } {
  const token = slicer.token ?? "";
  const tokenFile = slicer.token_file;

  if (tokenFile === null || tokenFile === undefined) return token === "" ? {} : { token };

  // Both set is reported before the schema runs.
  if (token !== "") return {};

  const read = readTokenFile(tokenFile);
  if ("error" in read) {
    report(["slicer", "token_file"], read.error);
    return { tokenFile };
  }
  return { token: read.token, tokenFile };
}

/** Reads a token file, dropping trailing newlines. */
export function readTokenFile(path: string): { token: string } | { error: string } {
  let content: string;
  try {
    content = readFileSync(path, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === "ENOENT"
      ? "file not found"
      : code === "EACCES"
      ? "permission denied"
      : String(error);
    return { error: `"${path}" could not be read (${reason})` };
  }

  const token = content.replace(/[\r\n]+$/, "");
  if (token === "") return { error: `"${path}" is empty (it must contain the token)` };
  return { token };
}

function buildSites(
  rawSites: RawConfig["sites"],
  defaults: SiteSettings,
  report: Report,
): SiteConfig[] {
  if (rawSites === null || rawSites === undefined) {
    return [{ pattern: IMPLICIT_SITE_PATTERN, match: { kind: "implicit" }, ...defaults }];
  }

  const seen = new Set<string>();
  return rawSites.map((site, index) => {
    if (seen.has(site.match.pattern)) {
      report(
        ["sites", index, "match"],
        `"${site.match.pattern}" is listed twice (each pattern may appear once)`,
      );
    }
    seen.add(site.match.pattern);

    return {
      pattern: site.match.pattern,
      match: site.match.match,
      hostGroup: site.host_group ?? defaults.hostGroup,
      idleTimeoutMs: site.idle_timeout ?? defaults.idleTimeoutMs,
      wakeTimeoutMs: site.wake_timeout ?? defaults.wakeTimeoutMs,
      appPort: site.app_port ?? defaults.appPort,
    };
  });
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
