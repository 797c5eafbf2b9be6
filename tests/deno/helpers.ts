/** Servers and a raw HTTP/1.1 client for the Deno adapter tests. */
import * as http from "node:http";
import * as net from "node:net";
import type { AddressInfo } from "node:net";

export interface Upstream {
  url: string;
  /** Requests the upstream received, in order. */
  received: http.IncomingMessage[];
  close(): Promise<void>;
}

/** Starts a node:http server on an ephemeral loopback port. */
export async function startUpstream(
  handle: (request: http.IncomingMessage, response: http.ServerResponse) => void,
): Promise<Upstream> {
  const received: http.IncomingMessage[] = [];
  const server = http.createServer((request, response) => {
    received.push(request);
    handle(request, response);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface RawResponse {
  status: number;
  headers: Map<string, string>;
  body: string;
}

function decodeChunked(text: string): string {
  let body = "";
  let rest = text;
  while (rest.length > 0) {
    const lineEnd = rest.indexOf("\r\n");
    const size = parseInt(rest.slice(0, lineEnd), 16);
    if (!(size > 0)) break;
    body += rest.slice(lineEnd + 2, lineEnd + 2 + size);
    rest = rest.slice(lineEnd + 2 + size + 2);
  }
  return body;
}

/**
 * Sends one request over a plain socket with `Connection: close` and returns
 * the bytes as the server wrote them, with no decoding of `Content-Encoding`.
 * A body shorter than `Content-Length` is returned as received.
 */
export function rawRequest(port: number, head: string): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1", () => {
      socket.write(`${head}\r\nconnection: close\r\n\r\n`);
    });
    let text = "";
    socket.setEncoding("latin1");
    socket.on("data", (chunk: string) => {
      text += chunk;
    });
    socket.on("error", reject);
    socket.on("end", () => {
      const headEnd = text.indexOf("\r\n\r\n");
      const lines = text.slice(0, headEnd).split("\r\n");
      const status = Number(lines[0]?.split(" ")[1]);
      const headers = new Map<string, string>();
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(":");
        headers.set(line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim());
      }
      const rawBody = text.slice(headEnd + 4);
      const body = headers.get("transfer-encoding") === "chunked"
        ? decodeChunked(rawBody)
        : rawBody;
      resolve({ status, headers, body });
    });
  });
}

/**
 * Opens a socket, sends a request head and destroys the socket after
 * `closeAfterMs`, as a client that goes away would.
 */
export function abandonRequest(port: number, head: string, closeAfterMs: number): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1", () => socket.write(`${head}\r\n\r\n`));
    socket.on("data", () => {});
    socket.on("error", () => {});
    setTimeout(() => {
      socket.destroy();
      resolve();
    }, closeAfterMs);
  });
}

/** Resolves once `signal` aborts, or with false after `timeoutMs`. */
export function abortedWithin(signal: AbortSignal, timeoutMs: number): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(signal.aborted), timeoutMs);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve(true);
    }, { once: true });
  });
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
