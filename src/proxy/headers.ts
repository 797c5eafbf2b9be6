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

/** Removes hop-by-hop headers and those named in `Connection`, in place. */
export function removeHopByHop(headers: Headers): void {
  const connection = headers.get("connection");
  if (connection) {
    for (const token of connection.split(",")) {
      const name = token.trim().toLowerCase();
      if (name !== "" && !protectedHeaders.has(name)) headers.delete(name);
    }
  }
  for (const name of hopByHop) headers.delete(name);
}

/** Headers dropped from every forwarded request: the hop-by-hop ones. */
const requestDropped: ReadonlySet<string> = new Set(hopByHop);
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
 * Returns the headers to send upstream for a client request, built in one
 * pass over the client's headers. `X-Forwarded-For`, `-Proto` and `-Host`
 * are set. From a trusted peer the incoming values are kept and the peer is
 * appended to `X-Forwarded-For`. From any other peer every `X-Forwarded-*`
 * header and each of `forwardingClaims` is dropped and replaced.
 */
export function upstreamRequestHeaders(incoming: Headers, context: ForwardingContext): Headers {
  const dropped = context.webSocket ? webSocketDropped : requestDropped;
  const options = connectionOptions(incoming.get("connection"));
  const trusted = context.peer !== "" && context.trustedProxies.contains(context.peer);

  const headers = new Headers();
  let chain: string | undefined;
  let via: string | undefined;
  let host = "";
  let hasProto = false;
  let hasHost = false;
  incoming.forEach((value, name) => {
    if (dropped.has(name) || options?.has(name)) return;
    if (name.startsWith("x-forwarded-") || forwardingClaims.includes(name)) {
      if (!trusted) return;
      if (name === "x-forwarded-for") {
        chain = value;
        return;
      }
      if (name === "x-forwarded-proto") hasProto = true;
      if (name === "x-forwarded-host") hasHost = true;
    } else if (name === "via") {
      via = value;
      return;
    } else if (name === "host") {
      host = value;
    }
    headers.append(name, value);
  });

  headers.set("x-forwarded-for", chain ? `${chain}, ${context.peer}` : context.peer);
  if (!hasProto) headers.set("x-forwarded-proto", context.proto);
  if (!hasHost && host !== "") headers.set("x-forwarded-host", host);
  headers.set("via", via ? `${via}, ${viaEntry}` : viaEntry);
  return headers;
}

/** Cleans an upstream response's headers in place and appends the `Via` entry. */
export function cleanResponseHeaders(headers: Headers): void {
  removeHopByHop(headers);
  const via = headers.get("via");
  headers.set("via", via ? `${via}, ${viaEntry}` : viaEntry);
}
