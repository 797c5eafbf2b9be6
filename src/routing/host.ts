/**
 * Turns a request's Host header (HTTP/1.1) or `:authority` (HTTP/2, which
 * the runtimes expose as `Host`) into the hostname used for routing.
 */

/** The Host header is missing or is not a valid `host[:port]`. */
export class InvalidHostError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InvalidHostError";
  }
}

/** Longest DNS name in its text form, from RFC 1035 section 2.3.4. */
const maxHostnameLength = 253;
const maxLabelLength = 63;

// Letters, digits, hyphen and underscore: underscores appear in real
// service names, and anything wider would let odd bytes into logs and tags.
const labelPattern = /^[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?$/;
const ipv6Pattern = /^[0-9a-f:.]+$/;

/**
 * Returns the lowercased hostname of `host` with the port and one trailing
 * dot removed. IPv6 literals keep their brackets (`[::1]`). Throws
 * `InvalidHostError` when the value is missing or malformed.
 */
export function normalizeHost(host: string | null | undefined): string {
  if (host === null || host === undefined || host === "") {
    throw new InvalidHostError("missing Host header");
  }
  const value = host.toLowerCase();

  if (value.startsWith("[")) {
    return normalizeIpv6(value);
  }

  const colon = value.indexOf(":");
  let name = value;
  if (colon !== -1) {
    checkPort(value.slice(colon + 1), value);
    name = value.slice(0, colon);
  }
  if (name.endsWith(".")) name = name.slice(0, -1);
  checkName(name, value);
  return name;
}

function normalizeIpv6(value: string): string {
  const close = value.indexOf("]");
  if (close === -1) throw new InvalidHostError(`invalid Host ${JSON.stringify(value)}`);

  const address = value.slice(1, close);
  const rest = value.slice(close + 1);
  if (address === "" || !ipv6Pattern.test(address) || !address.includes(":")) {
    throw new InvalidHostError(`invalid IPv6 address in Host ${JSON.stringify(value)}`);
  }
  if (rest !== "") {
    if (!rest.startsWith(":")) throw new InvalidHostError(`invalid Host ${JSON.stringify(value)}`);
    checkPort(rest.slice(1), value);
  }
  return `[${address}]`;
}

function checkPort(port: string, value: string): void {
  // An empty port (`host:`) is allowed by RFC 3986 section 3.2.3.
  if (port === "") return;
  if (!/^[0-9]{1,5}$/.test(port) || Number(port) > 65535) {
    throw new InvalidHostError(`invalid port in Host ${JSON.stringify(value)}`);
  }
}

function checkName(name: string, value: string): void {
  if (name === "" || name.length > maxHostnameLength) {
    throw new InvalidHostError(`invalid Host ${JSON.stringify(value)}`);
  }
  for (const label of name.split(".")) {
    if (label.length > maxLabelLength || !labelPattern.test(label)) {
      throw new InvalidHostError(`invalid Host ${JSON.stringify(value)}`);
    }
  }
}
