/**
 * HTTP/1.1 response parsing used by the Bun upstream client: status line and
 * header section, body framing, and the chunked transfer coding. The module
 * does no I/O, so both runtimes run these cases.
 */
import assert from "node:assert/strict";
import {
  ChunkedDecoder,
  type Framing,
  maxHeadBytes,
  parseResponseHead,
  responseFraming,
  type ResponseHead,
  ResponseParseError,
} from "../../src/runtime/http1.ts";
import type { CaseGroup } from "../support/cases.ts";

/** Returns a head for `responseFraming` with `fields` given as `[name, value]` pairs. */
function head(status: number, fields: [string, string][] = [], minorVersion = 1): ResponseHead {
  return { status, statusText: "", minorVersion, fields };
}

function assertParseError(work: () => unknown, message: RegExp): void {
  assert.throws(work, (error: unknown) => {
    assert.ok(error instanceof ResponseParseError, `expected ResponseParseError, got ${error}`);
    assert.match(error.message, message);
    return true;
  });
}

function encodeLatin1(text: string): Uint8Array {
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}

function decodeLatin1(bytes: Uint8Array): string {
  let text = "";
  for (const byte of bytes) text += String.fromCharCode(byte);
  return text;
}

interface Decoded {
  payload: string;
  /** Bytes consumed by `push`, summed over every call. */
  consumed: number;
  done: boolean;
}

/** Feeds `pieces` to a fresh decoder in order and collects the payload. */
function decodePieces(pieces: Uint8Array[]): Decoded {
  const decoder = new ChunkedDecoder();
  let payload = "";
  let consumed = 0;
  for (const piece of pieces) {
    consumed += decoder.push(piece, (data) => (payload += decodeLatin1(data)));
  }
  return { payload, consumed, done: decoder.done };
}

/** Splits `bytes` at the sorted offsets in `cuts`. */
function splitAt(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const pieces: Uint8Array[] = [];
  let start = 0;
  for (const cut of [...cuts, bytes.length]) {
    pieces.push(bytes.subarray(start, cut));
    start = cut;
  }
  return pieces;
}

/** Returns a seeded pseudo-random generator (mulberry32) of floats in [0, 1). */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A chunked body with chunk extensions, an upper-case hex size, a chunk whose
 * data looks like a last chunk, and trailer fields.
 */
const chunkedPayload = "hello, world\r\n0\r\n" + "x".repeat(26) + "!";
const chunkedBody = [
  "c;name=value\r\nhello, world\r\n",
  "5\r\n\r\n0\r\n\r\n",
  '1A;quoted="a;b"\r\n' + "x".repeat(26) + "\r\n",
  "1\r\n!\r\n",
  "0;last\r\nX-Checksum: abc\r\nX-Other: 1\r\n\r\n",
].join("");

const parseCases: CaseGroup["cases"] = [
  {
    name: "status line with reason",
    run() {
      const parsed = parseResponseHead("HTTP/1.1 404 Not Found");
      assert.equal(parsed.status, 404);
      assert.equal(parsed.statusText, "Not Found");
      assert.equal(parsed.minorVersion, 1);
      assert.deepEqual(parsed.fields, []);
    },
  },
  {
    name: "status line without reason",
    run() {
      const bare = parseResponseHead("HTTP/1.1 200\r\nContent-Length: 0");
      assert.equal(bare.status, 200);
      assert.equal(bare.statusText, "");
      assert.deepEqual(bare.fields, [["content-length", "0"]]);

      const emptyReason = parseResponseHead("HTTP/1.1 204 ");
      assert.equal(emptyReason.status, 204);
      assert.equal(emptyReason.statusText, "");
    },
  },
  {
    name: "HTTP/1.0 status line",
    run() {
      const parsed = parseResponseHead("HTTP/1.0 200 OK");
      assert.equal(parsed.minorVersion, 0);
      assert.equal(parsed.status, 200);
    },
  },
  {
    name: "invalid status lines rejected",
    run() {
      const lines = [
        "",
        "HTTP/1.1",
        "HTTP/1.1 ",
        "HTTP/2 200 OK",
        "HTTP/1.2 200 OK",
        "HTTP/1 200 OK",
        "http/1.1 200 OK",
        "HTTP/1.1 20 OK",
        "HTTP/1.1 2000 OK",
        "HTTP/1.1 abc OK",
        "HTTP/1.1  200 OK",
        " HTTP/1.1 200 OK",
        "HTTP/1.1\t200 OK",
        "ICY 200 OK",
      ];
      for (const line of lines) {
        assertParseError(() => parseResponseHead(line), /invalid status line/);
      }
    },
  },
  {
    name: "status outside 100-599 rejected",
    run() {
      for (const line of ["HTTP/1.1 000 Zero", "HTTP/1.1 099 Low", "HTTP/1.1 600 High"]) {
        assertParseError(() => parseResponseHead(line), /invalid status code/);
      }
      assert.equal(parseResponseHead("HTTP/1.1 100 Continue").status, 100);
      assert.equal(parseResponseHead("HTTP/1.1 599 Custom").status, 599);
    },
  },
  {
    name: "fields lower-cased and trimmed in order",
    run() {
      const parsed = parseResponseHead(
        "HTTP/1.1 200 OK\r\nContent-Type:text/plain\r\nX-Padded: \t a b \t\r\nX-Empty:\r\n" +
          "Set-Cookie: a=1\r\nset-cookie: b=2\r\nX-Url: http://example.com:80/",
      );
      assert.deepEqual(parsed.fields, [
        ["content-type", "text/plain"],
        ["x-padded", "a b"],
        ["x-empty", ""],
        ["set-cookie", "a=1"],
        ["set-cookie", "b=2"],
        ["x-url", "http://example.com:80/"],
      ]);
    },
  },
  {
    name: "whitespace before colon rejected",
    run() {
      for (const line of ["Content-Length : 5", "Content-Length\t: 5", " Content-Length: 5"]) {
        assertParseError(
          () => parseResponseHead(`HTTP/1.1 200 OK\r\n${line}`),
          /invalid header name/,
        );
      }
    },
  },
  {
    name: "invalid header names rejected",
    run() {
      for (const line of [": empty", "X(A): 1", "X\u00e9: 1", "X@A: 1"]) {
        assertParseError(
          () => parseResponseHead(`HTTP/1.1 200 OK\r\n${line}`),
          /invalid header name/,
        );
      }
    },
  },
  {
    name: "header line without colon rejected",
    run() {
      assertParseError(
        () => parseResponseHead("HTTP/1.1 200 OK\r\nX-A: 1\r\nno colon here"),
        /without a colon/,
      );
    },
  },
  {
    name: "obs-fold rejected",
    run() {
      // A folded line either has no colon or starts its name with whitespace.
      const heads = [
        "HTTP/1.1 200 OK\r\nX-A: 1\r\n continued",
        "HTTP/1.1 200 OK\r\nX-A: 1\r\n\tcontinued",
        "HTTP/1.1 200 OK\r\nX-A: 1\r\n continued: with colon",
        "HTTP/1.1 200 OK\r\nX-A: 1\r\n\tcontinued: with colon",
      ];
      for (const text of heads) {
        assert.throws(
          () => parseResponseHead(text),
          ResponseParseError,
          `accepted ${JSON.stringify(text)}`,
        );
      }
    },
  },
  {
    name: "control characters in values rejected",
    run() {
      for (const code of [0x00, 0x01, 0x08, 0x0a, 0x0b, 0x0d, 0x1b, 0x1f, 0x7f]) {
        const value = `a${String.fromCharCode(code)}b`;
        assertParseError(
          () => parseResponseHead(`HTTP/1.1 200 OK\r\nX-A: ${value}`),
          /invalid value in header X-A/,
        );
      }
    },
  },
  {
    name: "VT or FF at value ends rejected",
    run() {
      // Only spaces and tabs are trimmed, so these reach the control check.
      for (const value of ["\x0bv", "v\x0c", "\x0cv\x0b"]) {
        assertParseError(
          () => parseResponseHead(`HTTP/1.1 200 OK\r\nX-A: ${value}`),
          /invalid value in header X-A/,
        );
      }
    },
  },
  {
    name: "tab inside value accepted",
    run() {
      const parsed = parseResponseHead("HTTP/1.1 200 OK\r\nX-A: a\tb");
      assert.deepEqual(parsed.fields, [["x-a", "a\tb"]]);
    },
  },
  {
    name: "obs-text decoded as Latin-1 accepted",
    run() {
      const obsText = new Uint8Array(0x80);
      for (let i = 0; i < obsText.length; i++) obsText[i] = 0x80 + i;
      const value = decodeLatin1(obsText);
      const parsed = parseResponseHead(`HTTP/1.1 200 OK\r\nX-Name: caf${value}`);
      assert.equal(parsed.fields.length, 1);
      const [name, parsedValue] = parsed.fields[0]!;
      assert.equal(name, "x-name");
      assert.equal(parsedValue, `caf${value}`);
      assert.equal(parsedValue.charCodeAt(3), 0x80);
      assert.equal(parsedValue.charCodeAt(parsedValue.length - 1), 0xff);
    },
  },
  {
    name: "no-break space at value ends kept",
    run() {
      // Only spaces and tabs are optional whitespace. 0xA0 is obs-text.
      const parsed = parseResponseHead("HTTP/1.1 200 OK\r\nX-A: \u00a0a\u00a0 \t");
      assert.deepEqual(parsed.fields, [["x-a", "\u00a0a\u00a0"]]);
    },
  },
];

const framingCases: CaseGroup["cases"] = [
  {
    name: "HEAD response has no body",
    run() {
      const framing = responseFraming(
        "HEAD",
        head(200, [["content-length", "5"], ["transfer-encoding", "chunked"]]),
      );
      assert.deepEqual(framing, { body: { kind: "none" }, reusable: true });
    },
  },
  {
    name: "204, 304 and 1xx have no body",
    run() {
      for (const status of [204, 304, 100, 103, 199]) {
        const framing = responseFraming("GET", head(status, [["content-length", "5"]]));
        assert.deepEqual(framing, { body: { kind: "none" }, reusable: true }, `status ${status}`);
      }
    },
  },
  {
    name: "bodiless response with Connection: close",
    run() {
      const framing = responseFraming("GET", head(204, [["connection", "close"]]));
      assert.deepEqual(framing, { body: { kind: "none" }, reusable: false });
    },
  },
  {
    name: "Content-Length framing",
    run() {
      assert.deepEqual(responseFraming("GET", head(200, [["content-length", "5"]])), {
        body: { kind: "length", length: 5 },
        reusable: true,
      });
      assert.deepEqual(responseFraming("GET", head(200, [["content-length", "0"]])), {
        body: { kind: "length", length: 0 },
        reusable: true,
      });
      assert.deepEqual(responseFraming("GET", head(200, [["content-length", "999999999999999"]])), {
        body: { kind: "length", length: 999_999_999_999_999 },
        reusable: true,
      });
    },
  },
  {
    name: "repeated equal Content-Length accepted",
    run() {
      const expected: Framing = { body: { kind: "length", length: 5 }, reusable: true };
      assert.deepEqual(responseFraming("GET", head(200, [["content-length", "5, 5"]])), expected);
      assert.deepEqual(responseFraming("GET", head(200, [["content-length", "5,5"]])), expected);
      assert.deepEqual(
        responseFraming("GET", head(200, [["content-length", "5"], ["content-length", "5"]])),
        expected,
      );
      assert.deepEqual(
        responseFraming("GET", head(200, [["content-length", "5"], ["content-length", "05"]])),
        expected,
      );
    },
  },
  {
    name: "conflicting Content-Length rejected",
    run() {
      assertParseError(
        () => responseFraming("GET", head(200, [["content-length", "5, 6"]])),
        /conflicting Content-Length/,
      );
      assertParseError(
        () => responseFraming("GET", head(200, [["content-length", "5"], ["content-length", "6"]])),
        /conflicting Content-Length/,
      );
    },
  },
  {
    name: "invalid Content-Length rejected",
    run() {
      const values = ["", "abc", "-1", "+5", "0x5", "1e3", "5.0", "5 5", "1234567890123456"];
      for (const value of values) {
        assertParseError(
          () => responseFraming("GET", head(200, [["content-length", value]])),
          /invalid Content-Length/,
        );
      }
    },
  },
  {
    name: "chunked framing",
    run() {
      const chunkedFraming: Framing = { body: { kind: "chunked" }, reusable: true };
      assert.deepEqual(
        responseFraming("GET", head(200, [["transfer-encoding", "chunked"]])),
        chunkedFraming,
      );
      assert.deepEqual(
        responseFraming("GET", head(200, [["transfer-encoding", "Chunked"]])),
        chunkedFraming,
      );
    },
  },
  {
    name: "chunked with Content-Length not reusable",
    run() {
      for (
        const fields of [
          [["content-length", "5"], ["transfer-encoding", "chunked"]],
          [["transfer-encoding", "chunked"], ["content-length", "5"]],
        ] satisfies [string, string][][]
      ) {
        assert.deepEqual(responseFraming("GET", head(200, fields)), {
          body: { kind: "chunked" },
          reusable: false,
        });
      }
    },
  },
  {
    name: "codings other than chunked rejected",
    run() {
      const values = [
        "gzip",
        "chunked, gzip",
        "identity",
        "gzip, chunked",
        "chunked, chunked",
        "",
        " , ",
      ];
      for (const coding of values) {
        assertParseError(
          () => responseFraming("GET", head(200, [["transfer-encoding", coding]])),
          /unsupported Transfer-Encoding/,
        );
      }
      assertParseError(
        () =>
          responseFraming(
            "GET",
            head(200, [["transfer-encoding", "gzip"], ["transfer-encoding", "chunked"]]),
          ),
        /unsupported Transfer-Encoding/,
      );
    },
  },
  {
    name: "HTTP/1.0 chunked response not reusable",
    run() {
      const response = {
        ...head(200, [["transfer-encoding", "chunked"], ["connection", "keep-alive"]]),
        minorVersion: 0,
      };
      assert.deepEqual(responseFraming("GET", response), {
        body: { kind: "chunked" },
        reusable: false,
      });
    },
  },
  {
    name: "no length read until close",
    run() {
      assert.deepEqual(responseFraming("GET", head(200)), {
        body: { kind: "close" },
        reusable: false,
      });
      assert.deepEqual(responseFraming("GET", head(200, [["connection", "keep-alive"]])), {
        body: { kind: "close" },
        reusable: false,
      });
    },
  },
  {
    name: "Connection: close not reusable",
    run() {
      for (const value of ["close", "Close", "keep-alive, close", "upgrade ,close"]) {
        assert.deepEqual(
          responseFraming("GET", head(200, [["content-length", "5"], ["connection", value]])),
          { body: { kind: "length", length: 5 }, reusable: false },
          value,
        );
      }
      assert.deepEqual(
        responseFraming(
          "GET",
          head(200, [["transfer-encoding", "chunked"], ["connection", "close"]]),
        ),
        { body: { kind: "chunked" }, reusable: false },
      );
    },
  },
  {
    name: "HTTP/1.1 keep-alive by default",
    run() {
      assert.deepEqual(
        responseFraming("GET", head(200, [["content-length", "5"], ["connection", "keep-alive"]])),
        { body: { kind: "length", length: 5 }, reusable: true },
      );
    },
  },
  {
    name: "HTTP/1.0 reusable only with keep-alive",
    run() {
      assert.deepEqual(responseFraming("GET", head(200, [["content-length", "5"]], 0)), {
        body: { kind: "length", length: 5 },
        reusable: false,
      });
      for (const value of ["keep-alive", "Keep-Alive"]) {
        assert.deepEqual(
          responseFraming("GET", head(200, [["content-length", "5"], ["connection", value]], 0)),
          { body: { kind: "length", length: 5 }, reusable: true },
          value,
        );
      }
      assert.deepEqual(
        responseFraming(
          "GET",
          head(200, [["content-length", "5"], ["connection", "keep-alive, close"]], 0),
        ),
        { body: { kind: "length", length: 5 }, reusable: false },
      );
    },
  },
];

const chunkedCases: CaseGroup["cases"] = [
  {
    name: "chunked body in one piece",
    run() {
      const bytes = encodeLatin1(chunkedBody);
      const decoded = decodePieces([bytes]);
      assert.equal(decoded.payload, chunkedPayload);
      assert.equal(decoded.consumed, bytes.length);
      assert.equal(decoded.done, true);
    },
  },
  {
    name: "chunked body one byte at a time",
    run() {
      const bytes = encodeLatin1(chunkedBody);
      const cuts = Array.from({ length: bytes.length - 1 }, (_, i) => i + 1);
      const decoded = decodePieces(splitAt(bytes, cuts));
      assert.equal(decoded.payload, chunkedPayload);
      assert.equal(decoded.consumed, bytes.length);
      assert.equal(decoded.done, true);
    },
  },
  {
    name: "chunked body split at every boundary",
    run() {
      const bytes = encodeLatin1(chunkedBody);
      for (let cut = 0; cut <= bytes.length; cut++) {
        const decoded = decodePieces(splitAt(bytes, [cut]));
        assert.equal(decoded.payload, chunkedPayload, `split at ${cut}`);
        assert.equal(decoded.consumed, bytes.length, `split at ${cut}`);
        assert.equal(decoded.done, true, `split at ${cut}`);
      }
    },
  },
  {
    name: "chunked body in random splits",
    run() {
      const bytes = encodeLatin1(chunkedBody);
      const random = seededRandom(0x5eed);
      for (let round = 0; round < 200; round++) {
        const cutCount = 1 + Math.floor(random() * 12);
        const cuts = Array.from({ length: cutCount }, () => Math.floor(random() * bytes.length));
        cuts.sort((a, b) => a - b);
        const decoded = decodePieces(splitAt(bytes, cuts));
        assert.equal(decoded.payload, chunkedPayload, `cuts ${cuts.join(",")}`);
        assert.equal(decoded.consumed, bytes.length, `cuts ${cuts.join(",")}`);
        assert.equal(decoded.done, true, `cuts ${cuts.join(",")}`);
      }
    },
  },
  {
    name: "chunk extensions ignored",
    run() {
      const decoded = decodePieces([
        encodeLatin1('3;a=1;b="x"\r\nabc\r\n2 ; c\r\nde\r\n0;end=yes\r\n\r\n'),
      ]);
      assert.equal(decoded.payload, "abcde");
      assert.equal(decoded.done, true);
    },
  },
  {
    name: "trailer fields dropped",
    run() {
      const decoded = decodePieces([
        encodeLatin1("2\r\nok\r\n0\r\nX-Checksum: abc\r\nServer-Timing: db;dur=1\r\n\r\n"),
      ]);
      assert.equal(decoded.payload, "ok");
      assert.equal(decoded.done, true);
    },
  },
  {
    name: "empty chunked body",
    run() {
      const decoded = decodePieces([encodeLatin1("0\r\n\r\n")]);
      assert.equal(decoded.payload, "");
      assert.equal(decoded.consumed, 5);
      assert.equal(decoded.done, true);
    },
  },
  {
    name: "unfinished chunked body not done",
    run() {
      for (const text of ["5\r\nhel", "5\r\nhello\r\n", "0\r\n", "0\r\nX-A: 1\r\n"]) {
        const bytes = encodeLatin1(text);
        const decoded = decodePieces([bytes]);
        assert.equal(decoded.done, false, JSON.stringify(text));
        assert.equal(decoded.consumed, bytes.length, JSON.stringify(text));
      }
    },
  },
  {
    name: "bytes after last chunk not consumed",
    run() {
      const body = "2\r\nok\r\n0\r\nX-A: 1\r\n\r\n";
      const bytes = encodeLatin1(`${body}HTTP/1.1 200 OK\r\n\r\n`);
      const decoder = new ChunkedDecoder();
      let payload = "";
      const consumed = decoder.push(bytes, (data) => (payload += decodeLatin1(data)));
      assert.equal(consumed, body.length);
      assert.equal(decoder.done, true);
      assert.equal(payload, "ok");
      assert.equal(decoder.push(encodeLatin1("more"), () => assert.fail("emitted after done")), 0);
    },
  },
  {
    name: "invalid chunk size rejected",
    run() {
      const sizes = ["zz", "", " ", "-1", "0x5", "+5", "1000000000000", ";ext"];
      for (const size of sizes) {
        assertParseError(
          () => decodePieces([encodeLatin1(`${size}\r\nhello\r\n0\r\n\r\n`)]),
          /invalid chunk size/,
        );
      }
    },
  },
  {
    name: "bare LF in size line rejected",
    run() {
      assertParseError(() => decodePieces([encodeLatin1("5\nhello\r\n")]), /without CR/);
      assertParseError(() => decodePieces([encodeLatin1("5\rhello\r\n")]), /without LF/);
    },
  },
  {
    name: "missing CRLF after data rejected",
    run() {
      for (const text of ["5\r\nhelloX\r\n0\r\n\r\n", "5\r\nhello\rX0\r\n\r\n", "5\r\nhello\n"]) {
        assertParseError(() => decodePieces([encodeLatin1(text)]), /chunk data without CRLF/);
      }
    },
  },
  {
    name: "overlong size line rejected",
    run() {
      const line = `1;${"a".repeat(5000)}\r\nx\r\n0\r\n\r\n`;
      assertParseError(() => decodePieces([encodeLatin1(line)]), /chunk size line too long/);

      // Spread over many pushes, the line is still counted as a whole.
      const bytes = encodeLatin1(line);
      const cuts = Array.from({ length: 50 }, (_, i) => (i + 1) * 100);
      assertParseError(() => decodePieces(splitAt(bytes, cuts)), /chunk size line too long/);
    },
  },
  {
    name: "overlong trailer section rejected",
    run() {
      const field = `X-Pad: ${"a".repeat(1000)}\r\n`;
      const count = Math.ceil(maxHeadBytes / field.length) + 1;
      const text = `0\r\n${field.repeat(count)}\r\n`;
      assertParseError(() => decodePieces([encodeLatin1(text)]), /trailer section too long/);

      const bytes = encodeLatin1(text);
      const cuts = Array.from({ length: 80 }, (_, i) => (i + 1) * 997);
      assertParseError(() => decodePieces(splitAt(bytes, cuts)), /trailer section too long/);
    },
  },
  {
    name: "trailer line without LF rejected",
    run() {
      assertParseError(
        () => decodePieces([encodeLatin1("0\r\nX-A: 1\rX")]),
        /trailer line without LF/,
      );
    },
  },
];

export const http1Cases: CaseGroup = {
  name: "http1 response parsing",
  cases: [...parseCases, ...framingCases, ...chunkedCases],
};
