/**
 * Header rules for forwarded messages, per RFC 9110 section 7.6: hop-by-hop
 * fields are removed in both directions, and the forwarding headers
 * (`X-Forwarded-*`, `Via`) are set on requests.
 */
import type { TrustedProxies } from "./trusted.ts";

/** The `Via` entry Relight appends (RFC 9110 section 7.6.3). */
export const viaEntry = "1.1 relight";

/**
 * Connection-specific fields. RFC 9110 section 7.6.1 names Connection,
 * Proxy-Connection, Keep-Alive, TE, Transfer-Encoding and Upgrade. Trailer,
 * Proxy-Authenticate and Proxy-Authorization are hop-by-hop per RFC 2616
 * section 13.5.1. HTTP2-Settings belongs to the `Upgrade: h2c` handshake
 * (RFC 7540 section 3.2.1), which Relight never forwards.
 */
const hopByHop = [
  "connection",
  "proxy-connection",
  "keep-alive",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "proxy-authenticate",
  "proxy-authorization",
  "http2-settings",
];

/** Headers a `Connection` token may not remove: Host and those Relight sets. */
const protectedHeaders = new Set([
  "host",
  "x-forwarded-for",
  "x-forwarded-proto",
  "x-forwarded-host",
  "via",
]);

/**
 * Headers that carry a client address or scheme claimed by an earlier hop.
 * Relight keeps them only from trusted peers, because any client can send them.
 */
const forwardingClaims = ["forwarded", "x-real-ip"];

/** Headers of a WebSocket handshake that the upstream client connection makes itself. */
const webSocketHandshake = [
  "sec-websocket-key",
  "sec-websocket-version",
  "sec-websocket-protocol",
  "sec-websocket-extensions",
];

/** Facts about the client connection that the forwarding headers record. */
export interface ForwardingContext {
  /** IP address of the peer that connected to Relight. */
  peer: string;
  /** The listener's scheme. */
  proto: "http" | "https";
  trustedProxies: TrustedProxies;
  /** True for a WebSocket handshake, whose own headers are dropped as well. */
  webSocket: boolean;
}

/** Headers dropped from every forwarded message: the hop-by-hop ones. */
const hopByHopDropped: ReadonlySet<string> = new Set(hopByHop);
/** Headers dropped from a forwarded WebSocket handshake. */
const webSocketDropped: ReadonlySet<string> = new Set([...hopByHop, ...webSocketHandshake]);

/** Returns the names that a `Connection` value lists, except those Relight protects. */
function connectionOptions(connection: string | null): Set<string> | undefined {
  if (!connection) return undefined;
  const names = new Set<string>();
  for (const token of connection.split(",")) {
    const name = token.trim().toLowerCase();
    if (name !== "" && !protectedHeaders.has(name)) names.add(name);
  }
  return names;
}

/**
 * The state of one pass over a request's headers. One instance serves every
 * request, passed to `Headers.forEach` as `this`, because a callback closing
 * over its own variables cost about 110 bytes per request. The pass is
 * synchronous, so two requests never share it at once.
 */
class RequestFieldPass {
  dropped: ReadonlySet<string> = hopByHopDropped;
  options: Set<string> | undefined;
  trusted = false;
  fields: [string, string][] = [];
  chain: string | undefined;
  via: string | undefined;
  host = "";
  hasProto = false;
  hasHost = false;

  reset(dropped: ReadonlySet<string>, options: Set<string> | undefined, trusted: boolean): void {
    this.dropped = dropped;
    this.options = options;
    this.trusted = trusted;
    this.fields = [];
    this.chain = undefined;
    this.via = undefined;
    this.host = "";
    this.hasProto = false;
    this.hasHost = false;
  }
}

const requestFieldPass = new RequestFieldPass();
/** The shared pass's fields between passes, so it keeps no request's fields alive. */
const noFields: [string, string][] = [];

function collectRequestField(this: RequestFieldPass, value: string, name: string): void {
  if (this.dropped.has(name) || this.options?.has(name)) return;
  if (name.startsWith("x-forwarded-") || forwardingClaims.includes(name)) {
    if (!this.trusted) return;
    if (name === "x-forwarded-for") {
      this.chain = value;
      return;
    }
    if (name === "x-forwarded-proto") this.hasProto = true;
    if (name === "x-forwarded-host") this.hasHost = true;
  } else if (name === "via") {
    this.via = value;
    return;
  } else if (name === "host") {
    this.host = value;
  }
  this.fields.push([name, value]);
}

/**
 * Returns the headers to send upstream for a client request, built in one
 * pass over the client's headers. `X-Forwarded-For`, `-Proto` and `-Host`
 * are set. From a trusted peer the incoming values are kept and the peer is
 * appended to `X-Forwarded-For`. From any other peer every `X-Forwarded-*`
 * header and each of `forwardingClaims` is dropped and replaced.
 */
export function upstreamRequestHeaders(
  incoming: Headers,
  context: ForwardingContext,
): [string, string][] {
  const pass = requestFieldPass;
  pass.reset(
    context.webSocket ? webSocketDropped : hopByHopDropped,
    connectionOptions(incoming.get("connection")),
    context.peer !== "" && context.trustedProxies.contains(context.peer),
  );
  incoming.forEach(collectRequestField, pass);

  const { fields, chain, via, host } = pass;
  pass.fields = noFields;
  fields.push(["x-forwarded-for", chain ? `${chain}, ${context.peer}` : context.peer]);
  if (!pass.hasProto) fields.push(["x-forwarded-proto", context.proto]);
  if (!pass.hasHost && host !== "") fields.push(["x-forwarded-host", host]);
  fields.push(["via", via ? `${via}, ${viaEntry}` : viaEntry]);
  return fields;
}

/**
 * Returns an upstream response's header fields without the hop-by-hop ones
 * and those named in `Connection`, with the `Via` entry appended. Fields come
 * and go as `[name, value]` pairs with lower-case names, so repeated fields
 * such as `Set-Cookie` stay apart.
 */
export function cleanResponseFields(fields: [string, string][]): [string, string][] {
  let options: Set<string> | undefined;
  for (const [name, value] of fields) {
    if (name !== "connection") continue;
    for (const token of value.split(",")) {
      const option = token.trim().toLowerCase();
      if (option !== "" && !protectedHeaders.has(option)) (options ??= new Set()).add(option);
    }
  }

  const cleaned: [string, string][] = [];
  let via: string | undefined;
  for (const field of fields) {
    const name = field[0];
    if (hopByHopDropped.has(name) || options?.has(name)) continue;
    if (name === "via") {
      via = via === undefined ? field[1] : `${via}, ${field[1]}`;
      continue;
    }
    cleaned.push(field);
  }
  cleaned.push(["via", via ? `${via}, ${viaEntry}` : viaEntry]);
  return cleaned;
}
