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

/** Returns the headers to send upstream for a client request. */
export function upstreamRequestHeaders(incoming: Headers, context: ForwardingContext): Headers {
  const headers = new Headers(incoming);
  removeHopByHop(headers);
  if (context.webSocket) {
    for (const name of webSocketHandshake) headers.delete(name);
  }

  setForwardingHeaders(headers, context);

  const via = headers.get("via");
  headers.set("via", via ? `${via}, ${viaEntry}` : viaEntry);
  return headers;
}

/**
 * Sets `X-Forwarded-For`, `-Proto` and `-Host`. From a trusted peer the
 * incoming values are kept and the peer is appended to `X-Forwarded-For`.
 * From any other peer every `X-Forwarded-*` header is dropped and replaced.
 */
function setForwardingHeaders(headers: Headers, context: ForwardingContext): void {
  const trusted = context.peer !== "" && context.trustedProxies.contains(context.peer);
  const host = headers.get("host") ?? "";

  if (!trusted) {
    const claimed: string[] = [];
    headers.forEach((_value, name) => {
      if (name.startsWith("x-forwarded-")) claimed.push(name);
    });
    for (const name of [...claimed, ...forwardingClaims]) headers.delete(name);
  }

  const chain = headers.get("x-forwarded-for");
  headers.set("x-forwarded-for", chain ? `${chain}, ${context.peer}` : context.peer);
  if (!headers.has("x-forwarded-proto")) headers.set("x-forwarded-proto", context.proto);
  if (!headers.has("x-forwarded-host") && host !== "") headers.set("x-forwarded-host", host);
}

/** Cleans an upstream response's headers in place and appends the `Via` entry. */
export function cleanResponseHeaders(headers: Headers): void {
  removeHopByHop(headers);
  const via = headers.get("via");
  headers.set("via", via ? `${via}, ${viaEntry}` : viaEntry);
}
