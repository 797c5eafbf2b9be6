/**
 * Parsers for the scalar value kinds in relight.yaml: listen addresses, site
 * match patterns, IP ranges and paths. Each returns undefined (or, for listen
 * addresses, the reason) for bad input, so that the schema can phrase the
 * error with the key path.
 */
import { isIP } from "node:net";
import { homedir } from "node:os";
import { isAbsolute, resolve } from "node:path";
import type { ListenAddress, SiteMatch } from "./types.ts";
import type { Environment } from "./env.ts";

/** A parsed listen address, or the reason the text is not one. */
export type ListenAddressResult =
  | { address: ListenAddress }
  | { error: "form" }
  | { error: "host"; host: string };

/**
 * Parses `host:port`, `[ipv6]:port` or `:port` (all IPv4 interfaces). Port 0
 * picks a free port. The host is an IPv4 address, a bracketed IPv6 address
 * or a hostname (see `isListenHostname`).
 */
export function readListenAddress(text: string): ListenAddressResult {
  const match = /^(?:\[([^\[\]]*)\]|([^:\[\]]*)):(\d{1,5})$/.exec(text);
  if (match === null) return { error: "form" };

  const port = Number(match[3]);
  if (port > 65535) return { error: "form" };

  const bracketed = match[1];
  if (bracketed !== undefined) {
    if (isIP(bracketed) === 6) return { address: { hostname: bracketed, port } };
    return { error: "host", host: `[${bracketed}]` };
  }

  const hostname = match[2] ?? "";
  if (hostname === "") return { address: { hostname: "0.0.0.0", port } };
  if (isIP(hostname) === 4 || isListenHostname(hostname)) return { address: { hostname, port } };
  return { error: "host", host: hostname };
}

/**
 * Reports whether `text` is a hostname a listener may bind. It must consist
 * of RFC 1123 labels, and its top-level label must not be all digits,
 * because RFC 1123 section 2.1 says the highest-level label of a valid host
 * name is alphabetic. So `127.0.0.1.5` is neither an address nor a name.
 */
export function isListenHostname(text: string): boolean {
  const topLabel = text.slice(text.lastIndexOf(".") + 1);
  return isHostname(text) && !/^\d+$/.test(topLabel);
}

/** Formats a listen address back into the form `readListenAddress` reads. */
export function formatListenAddress(address: ListenAddress): string {
  const host = isIP(address.hostname) === 6 ? `[${address.hostname}]` : address.hostname;
  return `${host}:${address.port}`;
}

/** Reports whether a listen hostname only accepts connections from this machine. */
export function isLoopback(hostname: string): boolean {
  if (hostname === "localhost" || hostname === "::1") return true;
  return isIP(hostname) === 4 && hostname.startsWith("127.");
}

/** Reports whether `text` is a DNS hostname (RFC 1123 labels, lowercase or not). */
export function isHostname(text: string): boolean {
  if (text.length === 0 || text.length > 253) return false;
  return text.split(".").every((label) => /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i.test(label));
}

/**
 * Parses a site `match` pattern: `*` (any host, exact tags only), `*.suffix`
 * (one label under suffix) or an exact hostname. Case and one trailing dot
 * are ignored.
 */
export function parseSitePattern(text: string): { pattern: string; match: SiteMatch } | undefined {
  const pattern = text.toLowerCase().replace(/\.$/, "");

  if (pattern === "*") return { pattern, match: { kind: "exact-any" } };

  if (pattern.startsWith("*.")) {
    const suffix = pattern.slice(2);
    return isHostname(suffix) ? { pattern, match: { kind: "wildcard", suffix } } : undefined;
  }

  return isHostname(pattern) ? { pattern, match: { kind: "exact", hostname: pattern } } : undefined;
}

/** Reports whether `text` is an IPv4/IPv6 address or a CIDR range such as `10.0.0.0/8`. */
export function isAddressOrRange(text: string): boolean {
  const slash = text.indexOf("/");
  if (slash === -1) return isIP(text) !== 0;

  const version = isIP(text.slice(0, slash));
  const prefix = text.slice(slash + 1);
  if (version === 0 || !/^\d{1,3}$/.test(prefix)) return false;
  return Number(prefix) <= (version === 4 ? 32 : 128);
}

/**
 * Expands a leading `~` to the home directory (`HOME` from `env`, else the
 * user's) and resolves a relative path against `baseDir`.
 */
export function expandPath(text: string, env: Environment, baseDir: string): string {
  let path = text;
  if (path === "~" || path.startsWith("~/")) {
    path = (env["HOME"] ?? homedir()) + path.slice(1);
  }
  return isAbsolute(path) ? path : resolve(baseDir, path);
}
