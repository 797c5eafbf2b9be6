/** Rules that span several keys of relight.yaml. */
import { isIP } from "node:net";
import * as v from "valibot";
import type { KeyPath, Problem } from "./document.ts";
import { listenAddress, sitePattern } from "./fields.ts";
import { DEFAULT_ADMIN_LISTEN, DEFAULT_LISTEN, DEFAULT_TLS_LISTEN } from "./schema.ts";
import type { ListenAddress } from "./types.ts";
import { formatListenAddress, isLoopback } from "./values.ts";

/** Records one problem at a key path. */
export type Report = (path: KeyPath, message: string, at?: "key" | "value") => void;

/**
 * Checks the rules about which keys may appear together. They run on the raw
 * data, so they are reported even when some values are invalid.
 */
export function checkExclusiveKeys(data: unknown): Problem[] {
  const problems: Problem[] = [];
  const slicer = field(data, "slicer");
  const tls = field(data, "tls");
  const acme = field(tls, "acme");

  const token = field(slicer, "token");
  if (token !== undefined && token !== null && token !== "" && isSet(field(slicer, "token_file"))) {
    problems.push({
      path: ["slicer", "token_file"],
      at: "key",
      message: "cannot be set together with slicer.token (keep one)",
    });
  }

  if (field(acme, "staging") === true && isSet(field(acme, "directory_url"))) {
    problems.push({
      path: ["tls", "acme", "staging"],
      at: "key",
      message: "cannot be true when tls.acme.directory_url is set (remove one)",
    });
  }

  const certificates = field(tls, "certificates");
  const hasCertificates = Array.isArray(certificates)
    ? certificates.length > 0
    : isSet(certificates);
  if (isSet(tls) && !hasCertificates && !isSet(acme)) {
    problems.push({
      path: ["tls"],
      at: "value",
      message: "needs certificates, acme, or both (HTTPS has no certificate otherwise)",
    });
  }
  return problems;
}

/** Returns `value[key]` when `value` is a mapping, else undefined. */
function field(value: unknown, key: string): unknown {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
  return (value as Record<string, unknown>)[key];
}

function isSet(value: unknown): boolean {
  return value !== undefined && value !== null;
}

/**
 * Checks the rules that compare parsed values: a token for a public admin
 * listener, distinct listeners, and distinct site patterns. Each rule reads
 * the values it compares with their own schemas and skips a value that is
 * invalid, because the schema reports that one. So these problems appear
 * beside invalid values elsewhere in the file.
 */
export function checkParsedValues(data: unknown): Problem[] {
  const problems: Problem[] = [];
  const report: Report = (path, message, at = "value") => problems.push({ path, at, message });

  checkAdminToken(data, report);
  checkListenersDistinct(data, report);
  checkSitesDistinct(data, report);
  return problems;
}

/** Parses one value with its schema, or returns undefined when it is invalid. */
function parseValue<TSchema extends v.GenericSchema>(
  schema: TSchema,
  value: unknown,
): v.InferOutput<TSchema> | undefined {
  const result = v.safeParse(schema, value);
  return result.success ? result.output : undefined;
}

/** Returns `value` unless it is missing, in which case `fallback`. */
function orDefault(value: unknown, fallback: string): unknown {
  return isSet(value) ? value : fallback;
}

function checkAdminToken(data: unknown, report: Report): void {
  const admin = field(data, "admin");
  if (!isSet(admin)) return;

  const token = field(admin, "token");
  if (isSet(token) && token !== "") return;

  const listen = parseValue(
    listenAddress(),
    orDefault(field(admin, "listen"), DEFAULT_ADMIN_LISTEN),
  );
  if (listen === undefined || isLoopback(listen.hostname)) return;

  report(
    ["admin", "listen"],
    `"${
      formatListenAddress(listen)
    }" is not a loopback address, so admin.token is required (set admin.token, or listen on 127.0.0.1)`,
  );
}

/**
 * Rejects two listeners whose addresses overlap on one port: the same
 * address, a wildcard address (0.0.0.0 or ::) beside any other, or
 * localhost beside 127.0.0.1 or ::1. Port 0 (any free port) never clashes.
 */
function checkListenersDistinct(data: unknown, report: Report): void {
  const ask = field(data, "ask");
  const admin = field(data, "admin");
  const tls = field(data, "tls");
  const listeners: [KeyPath, unknown][] = [
    [["listen"], orDefault(field(data, "listen"), DEFAULT_LISTEN)],
    [["ask", "listen"], field(ask, "listen")],
    [
      ["admin", "listen"],
      isSet(admin) ? orDefault(field(admin, "listen"), DEFAULT_ADMIN_LISTEN) : undefined,
    ],
    [
      ["tls", "listen"],
      isSet(tls) ? orDefault(field(tls, "listen"), DEFAULT_TLS_LISTEN) : undefined,
    ],
  ];

  const used: { key: string; address: ListenAddress }[] = [];
  for (const [path, value] of listeners) {
    const address: ListenAddress | undefined = parseValue(listenAddress(), value);
    if (address === undefined || address.port === 0) continue;

    const text = formatListenAddress(address);
    const owner = used.find((other) => addressesOverlap(address, other.address));
    if (owner === undefined) {
      used.push({ key: path.join("."), address });
    } else if (formatListenAddress(owner.address) === text) {
      report(path, `"${text}" is already used by ${owner.key} (pick another port)`);
    } else {
      const ownerText = formatListenAddress(owner.address);
      report(
        path,
        `"${text}" overlaps ${owner.key} "${ownerText}" on port ${address.port} (pick another port)`,
      );
    }
  }
}

/** Reports whether binding both addresses would claim the same port on some interface. */
function addressesOverlap(a: ListenAddress, b: ListenAddress): boolean {
  if (a.port !== b.port) return false;

  const hostsA = boundHosts(a.hostname);
  const hostsB = boundHosts(b.hostname);
  if (hostsA.includes(WILDCARD) || hostsB.includes(WILDCARD)) return true;
  return hostsA.some((host) => hostsB.includes(host));
}

const WILDCARD = "*";

/**
 * Returns the addresses a listen hostname binds: `WILDCARD` for 0.0.0.0 and
 * ::, both loopback addresses for localhost, and the lowercased host
 * otherwise. Other hostnames are not resolved, so two names for one
 * address are not detected.
 */
function boundHosts(hostname: string): string[] {
  const host = hostname.toLowerCase();
  if (host === "localhost") return ["127.0.0.1", "::1"];
  if (isIP(host) !== 6) return host === "0.0.0.0" ? [WILDCARD] : [host];

  // The URL parser writes an IPv6 address in its shortest form, so "0:0::0" becomes "::".
  const canonical = new URL(`http://[${host}]/`).hostname.slice(1, -1);
  return canonical === "::" ? [WILDCARD] : [canonical];
}

function checkSitesDistinct(data: unknown, report: Report): void {
  const sites = field(data, "sites");
  if (!Array.isArray(sites)) return;

  const seen = new Set<string>();
  sites.forEach((site: unknown, index) => {
    const parsed = parseValue(sitePattern(), field(site, "match"));
    if (parsed === undefined) return;

    if (seen.has(parsed.pattern)) {
      report(
        ["sites", index, "match"],
        `"${parsed.pattern}" is listed twice (each pattern may appear once)`,
      );
    }
    seen.add(parsed.pattern);
  });
}
