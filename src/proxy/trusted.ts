/**
 * The set of peers whose `X-Forwarded-*` headers Relight keeps: single IP
 * addresses and CIDR ranges, IPv4 and IPv6.
 */
import { isIPv4, isIPv6 } from "node:net";

/** Peers listed in the `trusted_proxies` config key. */
export interface TrustedProxies {
  /** Returns true when `address` (an IPv4 or IPv6 address, no port) is listed. */
  contains(address: string): boolean;
}

interface Range {
  version: 4 | 6;
  network: bigint;
  mask: bigint;
}

/**
 * Parses `trusted_proxies` entries such as `10.0.0.1`, `10.0.0.0/8`, `::1` or
 * `fd00::/8`. Host bits set in a CIDR entry are ignored, as Go's ParseCIDR
 * does. Throws an Error naming the entry when one is invalid.
 */
export function parseTrustedProxies(entries: string[]): TrustedProxies {
  const ranges = entries.map(parseRange);
  if (ranges.length === 0) return { contains: () => false };

  return {
    contains(address) {
      const parsed = parseAddress(address);
      if (!parsed) return false;
      return ranges.some((range) =>
        range.version === parsed.version && (parsed.value & range.mask) === range.network
      );
    },
  };
}

function parseRange(entry: string): Range {
  const text = entry.trim();
  const slash = text.indexOf("/");
  const addressText = slash === -1 ? text : text.slice(0, slash);
  const address = parseAddress(addressText);
  if (!address) throw invalidEntry(entry, "is not an IP address or CIDR range");

  const bits = address.version === 4 ? 32 : 128;
  let prefix = bits;
  if (slash !== -1) {
    const prefixText = text.slice(slash + 1);
    prefix = Number(prefixText);
    if (!/^\d{1,3}$/.test(prefixText) || prefix > bits) {
      throw invalidEntry(entry, `has an invalid prefix length (use 0 to ${bits})`);
    }
  }

  const all = (1n << BigInt(bits)) - 1n;
  const mask = all ^ ((1n << BigInt(bits - prefix)) - 1n);
  return { version: address.version, network: address.value & mask, mask };
}

function invalidEntry(entry: string, problem: string): Error {
  return new Error(
    `trusted_proxies: "${entry}" ${problem}; use an address such as "10.0.0.1" or "::1", ` +
      `or a range such as "10.0.0.0/8" or "fd00::/8"`,
  );
}

/**
 * Converts an address to a number. IPv4-mapped IPv6 addresses
 * (`::ffff:10.0.0.1`), which dual-stack listeners report for IPv4 peers,
 * count as IPv4. A zone index (`fe80::1%eth0`) is ignored.
 */
function parseAddress(text: string): { version: 4 | 6; value: bigint } | undefined {
  const address = text.startsWith("[") && text.endsWith("]") ? text.slice(1, -1) : text;
  if (isIPv4(address)) return { version: 4, value: ipv4ToNumber(address) };

  const withoutZone = address.split("%")[0] ?? "";
  if (!isIPv6(withoutZone)) return undefined;

  const value = ipv6ToNumber(withoutZone);
  if (value >> 32n === 0xffffn) return { version: 4, value: value & 0xffffffffn };
  return { version: 6, value };
}

function ipv4ToNumber(address: string): bigint {
  return address.split(".").reduce((sum, part) => (sum << 8n) | BigInt(Number(part)), 0n);
}

/** Converts a valid IPv6 address, with `::` and an embedded IPv4 tail allowed. */
function ipv6ToNumber(address: string): bigint {
  let text = address.toLowerCase();
  const lastColon = text.lastIndexOf(":");
  const tail = text.slice(lastColon + 1);
  if (tail.includes(".")) {
    const v4 = ipv4ToNumber(tail);
    text = `${text.slice(0, lastColon + 1)}${(v4 >> 16n).toString(16)}:${
      (v4 & 0xffffn).toString(16)
    }`;
  }

  const [head = "", rest] = text.split("::");
  const headGroups = head === "" ? [] : head.split(":");
  const restGroups = rest === undefined || rest === "" ? [] : rest.split(":");
  const missing = 8 - headGroups.length - restGroups.length;
  const groups = [...headGroups, ...Array<string>(missing).fill("0"), ...restGroups];
  return groups.reduce((sum, group) => (sum << 16n) | BigInt(parseInt(group, 16)), 0n);
}
