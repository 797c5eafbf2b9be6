/**
 * HTTP/1.1 response parsing for the Bun adapter's upstream client (RFC 9112):
 * the status line and header section, message body framing, and the chunked
 * transfer coding. Pure functions and state machines over bytes, with no I/O,
 * so both runtimes can test them.
 */

/** Thrown for an upstream response that breaks HTTP/1.1 framing rules. */
export class ResponseParseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ResponseParseError";
  }
}

/** Largest response header section accepted, in bytes, as in nginx's default buffers. */
export const maxHeadBytes = 64 * 1024;

/** A parsed status line and header section. */
export interface ResponseHead {
  status: number;
  statusText: string;
  /** Minor version: 0 for HTTP/1.0, 1 for HTTP/1.1. */
  minorVersion: number;
  /** Fields in arrival order, names in lower case, values trimmed. */
  fields: [string, string][];
}

const tokenPattern = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// Field values may hold visible characters, spaces, tabs and obs-text; CR,
// LF and NUL were split off or are rejected here.
// deno-lint-ignore no-control-regex -- matching control characters is the point
const invalidValue = /[\0-\x08\x0a-\x1f\x7f]/;

const zero = 48;
const nine = 57;
const space = 32;
const tab = 9;

function isDigit(code: number): boolean {
  return code >= zero && code <= nine;
}

function isWhitespace(code: number): boolean {
  return code === space || code === tab;
}

/**
 * Parses a response head: `text` is the bytes before the blank line, decoded
 * as Latin-1 so that obs-text survives. Throws `ResponseParseError`.
 *
 * The status line and value whitespace are read by character codes, because
 * a regular expression match and a `trim()` copy each make a short-lived
 * object on every proxied response.
 */
export function parseResponseHead(text: string): ResponseHead {
  let lineEnd = text.indexOf("\r\n");
  if (lineEnd === -1) lineEnd = text.length;
  // RFC 9112 section 4: HTTP/1.x, a space, three digits, then an optional
  // space and reason phrase.
  const minor = text.charCodeAt(7);
  const valid = lineEnd >= 12 && text.startsWith("HTTP/1.") &&
    (minor === zero || minor === zero + 1) &&
    text.charCodeAt(8) === space && isDigit(text.charCodeAt(9)) && isDigit(text.charCodeAt(10)) &&
    isDigit(text.charCodeAt(11)) && (lineEnd === 12 || text.charCodeAt(12) === space);
  const statusText = lineEnd > 13 ? text.slice(13, lineEnd) : "";
  if (!valid || statusText.includes("\n") || statusText.includes("\r")) {
    throw new ResponseParseError(`invalid status line ${JSON.stringify(text.slice(0, 80))}`);
  }

  const fields: [string, string][] = [];
  let start = lineEnd + 2;
  while (start < text.length) {
    let end = text.indexOf("\r\n", start);
    if (end === -1) end = text.length;
    const colon = text.indexOf(":", start);
    if (colon === -1 || colon > end) {
      throw new ResponseParseError("header line without a colon");
    }
    // RFC 9112 section 5.2: obsolete line folding is rejected, and so is
    // whitespace before the colon (section 5.1), which the token check covers.
    const name = text.slice(start, colon);
    if (!tokenPattern.test(name)) {
      throw new ResponseParseError(`invalid header name ${JSON.stringify(name.slice(0, 80))}`);
    }
    // Optional whitespace around the value is spaces and tabs (RFC 9110 section 5.6.3).
    let valueStart = colon + 1;
    while (valueStart < end && isWhitespace(text.charCodeAt(valueStart))) valueStart++;
    let valueEnd = end;
    while (valueEnd > valueStart && isWhitespace(text.charCodeAt(valueEnd - 1))) valueEnd--;
    const value = text.slice(valueStart, valueEnd);
    if (invalidValue.test(value)) {
      throw new ResponseParseError(`invalid value in header ${name}`);
    }
    fields.push([name.toLowerCase(), value]);
    start = end + 2;
  }

  // RFC 9110 section 15: status codes run from 100 to 599.
  const status = (text.charCodeAt(9) - zero) * 100 + (text.charCodeAt(10) - zero) * 10 +
    text.charCodeAt(11) - zero;
  if (status < 100 || status > 599) {
    throw new ResponseParseError(`invalid status code ${text.slice(9, 12)}`);
  }

  return { status, statusText, minorVersion: minor - zero, fields };
}

/** The delimitation of a response body (RFC 9112 section 6.3). */
export type BodyFraming =
  | { kind: "none" }
  | { kind: "length"; length: number }
  | { kind: "chunked" }
  | { kind: "close" };

/** A response's framing and whether its connection may carry another request. */
export interface Framing {
  body: BodyFraming;
  reusable: boolean;
}

const noBody: BodyFraming = { kind: "none" };
/** A `Content-Length` value: digits only, at most 15 so that it stays an exact number. */
const decimal = /^\d{1,15}$/;
const chunked: BodyFraming = { kind: "chunked" };
const untilClose: BodyFraming = { kind: "close" };

/** Returns the comma-separated tokens of a field value, trimmed and in lower case. */
function tokens(value: string): string[] {
  return value.split(",").map((token) => token.trim().toLowerCase()).filter((t) => t !== "");
}

/**
 * Decides how the body of `head` is delimited for a request with `method`.
 * Throws `ResponseParseError` for a `Content-Length` that is invalid or
 * given twice with different values, the response smuggling case.
 */
export function responseFraming(method: string, head: ResponseHead): Framing {
  let length: string | undefined;
  let transferEncoding: string | undefined;
  let close = head.minorVersion === 0;
  for (const [name, value] of head.fields) {
    if (name === "content-length") {
      if (length === undefined && decimal.test(value)) {
        length = value;
        continue;
      }
      // A list such as "5, 5" is one length repeated (RFC 9110 section 8.6).
      for (const item of value.split(",")) {
        const trimmed = item.trim();
        if (!decimal.test(trimmed)) {
          throw new ResponseParseError(`invalid Content-Length ${JSON.stringify(value)}`);
        }
        if (length !== undefined && Number(length) !== Number(trimmed)) {
          throw new ResponseParseError("conflicting Content-Length values");
        }
        length = trimmed;
      }
    } else if (name === "transfer-encoding") {
      transferEncoding = transferEncoding === undefined ? value : `${transferEncoding}, ${value}`;
    } else if (name === "connection") {
      const options = tokens(value);
      if (options.includes("close")) close = true;
      else if (head.minorVersion === 0 && options.includes("keep-alive")) close = false;
    }
  }

  const status = head.status;
  if (method === "HEAD" || status === 204 || status === 304 || (status >= 100 && status < 200)) {
    return { body: noBody, reusable: !close };
  }
  if (transferEncoding !== undefined) {
    // RFC 9112 section 6.3: Transfer-Encoding overrides Content-Length. The
    // proxy drops Transfer-Encoding, so a coding other than chunked (gzip,
    // chunked twice) would reach the client undecoded and unnamed.
    const codings = tokens(transferEncoding);
    if (codings.length !== 1 || codings[0] !== "chunked") {
      throw new ResponseParseError(
        `unsupported Transfer-Encoding ${JSON.stringify(transferEncoding.slice(0, 80))}`,
      );
    }
    // Section 6.1: an HTTP/1.0 message with Transfer-Encoding has faulty
    // framing, so its connection closes after it.
    const reusable = !close && length === undefined && head.minorVersion === 1;
    return { body: chunked, reusable };
  }
  if (length !== undefined) {
    return { body: { kind: "length", length: Number(length) }, reusable: !close };
  }
  return { body: untilClose, reusable: false };
}

const cr = 13;
const lf = 10;
/** Maximum length of a chunk-size line, extensions included. */
const maxSizeLine = 4096;

// States of `ChunkedDecoder`.
const sizeState = 0;
const sizeLfState = 1;
const dataState = 2;
const dataCrState = 3;
const dataLfState = 4;
const trailerState = 5;
const trailerLfState = 6;
const doneState = 7;

/**
 * Decodes the chunked transfer coding (RFC 9112 section 7.1) from bytes that
 * arrive in any split. Chunk extensions and trailer fields are dropped.
 */
export class ChunkedDecoder {
  #state = sizeState;
  #line = "";
  #remaining = 0;
  #trailerBytes = 0;
  /** Bytes of the trailer line being read. */
  #trailerLine = 0;

  /** True once the last chunk and the trailer section were read. */
  get done(): boolean {
    return this.#state === doneState;
  }

  /**
   * Decodes `input`, passing each piece of payload to `emit` as a view of
   * `input`. Returns the number of bytes consumed, which is less than
   * `input.length` only when the body ended inside it. Throws
   * `ResponseParseError`.
   */
  push(input: Uint8Array, emit: (data: Uint8Array) => void): number {
    let i = 0;
    while (i < input.length && this.#state !== doneState) {
      switch (this.#state) {
        case sizeState: {
          let end = i;
          while (end < input.length && input[end] !== cr && input[end] !== lf) end++;
          if (this.#line.length + (end - i) > maxSizeLine) {
            throw new ResponseParseError("chunk size line too long");
          }
          this.#line += latin1(input, i, end);
          i = end;
          if (i === input.length) break;
          if (input[i] !== cr) throw new ResponseParseError("chunk size line without CR");
          i++;
          this.#state = sizeLfState;
          break;
        }
        case sizeLfState: {
          if (input[i] !== lf) throw new ResponseParseError("chunk size line without LF");
          i++;
          const size = this.#line.split(";", 1)[0]!.trim();
          this.#line = "";
          if (!/^[0-9a-fA-F]{1,12}$/.test(size)) {
            throw new ResponseParseError(`invalid chunk size ${JSON.stringify(size.slice(0, 20))}`);
          }
          this.#remaining = Number.parseInt(size, 16);
          this.#state = this.#remaining === 0 ? trailerState : dataState;
          break;
        }
        case dataState: {
          const take = Math.min(this.#remaining, input.length - i);
          emit(input.subarray(i, i + take));
          i += take;
          this.#remaining -= take;
          if (this.#remaining === 0) this.#state = dataCrState;
          break;
        }
        case dataCrState:
          if (input[i] !== cr) throw new ResponseParseError("chunk data without CRLF");
          i++;
          this.#state = dataLfState;
          break;
        case dataLfState:
          if (input[i] !== lf) throw new ResponseParseError("chunk data without CRLF");
          i++;
          this.#state = sizeState;
          break;
        case trailerState: {
          // One trailer line at a time; an empty line ends the message.
          let end = i;
          while (end < input.length && input[end] !== cr) end++;
          this.#trailerLine += end - i;
          this.#trailerBytes += end - i;
          if (this.#trailerBytes > maxHeadBytes) {
            throw new ResponseParseError("trailer section too long");
          }
          i = end;
          if (i === input.length) break;
          i++;
          this.#state = trailerLfState;
          break;
        }
        case trailerLfState: {
          if (input[i] !== lf) throw new ResponseParseError("trailer line without LF");
          i++;
          this.#state = this.#trailerLine === 0 ? doneState : trailerState;
          this.#trailerLine = 0;
          break;
        }
      }
    }
    return i;
  }
}

function latin1(bytes: Uint8Array, start: number, end: number): string {
  let text = "";
  for (let i = start; i < end; i++) text += String.fromCharCode(bytes[i]!);
  return text;
}
