/** Request heads of the Bun adapter's upstream client, written as HTTP/1.1 bytes. */
import { formatAuthority } from "./authority.ts";
import type { UpstreamRequest } from "./types.ts";

const unsafeInHead = /[\0\r\n]/;

const colon = 58;
const space = 32;
const cr = 13;
const lf = 10;

/**
 * A request head written as Latin-1 bytes into one buffer that every
 * request reuses. Built from strings, a head made about 1 KB of short-lived
 * rope strings per request, which set the pace of garbage collection under
 * keep-alive load. `view()` is valid only until the next `reset()`.
 */
export class HeadBuffer {
  #bytes = Buffer.allocUnsafe(16 * 1024);
  #length = 0;

  reset(): void {
    this.#length = 0;
  }

  /** Appends `text`, one byte per character. */
  text(text: string): void {
    this.#reserve(text.length);
    this.#length += this.#bytes.write(text, this.#length, "latin1");
  }

  /** Appends `name: value` and CRLF. */
  field(name: string, value: string): void {
    this.#reserve(name.length + value.length + 4);
    const bytes = this.#bytes;
    let at = this.#length + bytes.write(name, this.#length, "latin1");
    bytes[at++] = colon;
    bytes[at++] = space;
    at += bytes.write(value, at, "latin1");
    bytes[at++] = cr;
    bytes[at++] = lf;
    this.#length = at;
  }

  view(): Buffer {
    return this.#bytes.subarray(0, this.#length);
  }

  #reserve(size: number): void {
    const needed = this.#length + size;
    if (needed <= this.#bytes.length) return;
    const grown = Buffer.allocUnsafe(Math.max(needed, this.#bytes.length * 2));
    grown.set(this.#bytes.subarray(0, this.#length));
    this.#bytes = grown;
  }
}

/** The buffer every request head is written into. Each head is sent or copied before the next. */
export const headBuffer = new HeadBuffer();

/**
 * Writes the request line and header section into `head`, and returns the
 * body's declared length, undefined for a chunked body or none. Throws a
 * `TypeError` for a target or field that would break the framing.
 */
export function writeRequestHead(request: UpstreamRequest, head: HeadBuffer): number | undefined {
  const target = request.target;
  if (target[0] !== "/" || unsafeInHead.test(target)) {
    throw new TypeError(`invalid request target ${JSON.stringify(target)}`);
  }

  const body = request.body;
  head.reset();
  head.text(request.method);
  head.text(" ");
  head.text(target);
  head.text(" HTTP/1.1\r\n");

  let hasHost = false;
  let length: number | undefined;
  for (const [name, value] of request.headers) {
    if (unsafeInHead.test(name) || unsafeInHead.test(value)) {
      throw new TypeError(`header ${JSON.stringify(name)} contains CR, LF or NUL`);
    }
    if (name === "host") {
      hasHost = true;
    } else if (name === "content-length" || name === "transfer-encoding") {
      // The framing fields are written below from the body actually sent.
      // Bun gives a GET with `Content-Length: 10` no body, and passing that
      // length on would make the app read the next request as its body.
      if (name === "content-length" && body !== null) length = declaredLength(value);
      continue;
    }
    head.field(name, value);
  }

  if (!hasHost) head.field("host", formatAuthority(request.hostname, request.port));
  if (body === null) {
    // A bodiless POST or PUT keeps the explicit zero that apps may require.
    if (!bodilessMethods.has(request.method)) head.field("content-length", "0");
  } else if (length === undefined) {
    head.field("transfer-encoding", "chunked");
  } else {
    head.field("content-length", String(length));
  }
  head.text("\r\n");

  return length;
}

/** Methods whose requests are sent without a length when they have no body. */
const bodilessMethods = new Set(["GET", "HEAD", "DELETE", "OPTIONS", "TRACE", "CONNECT"]);

/** Parses a request's `Content-Length`; throws a `TypeError` for anything but one decimal number. */
function declaredLength(value: string): number {
  if (!/^\d{1,15}$/.test(value)) {
    throw new TypeError(`invalid Content-Length ${JSON.stringify(value.slice(0, 40))}`);
  }
  return Number(value);
}
