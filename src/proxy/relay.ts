/**
 * Relays WebSocket messages between the client (a server-side socket) and
 * the upstream (a WebSocket client), with close codes passed through.
 */
import { getLogger } from "../log.ts";
import type { ServerSocket, ServerSocketHandlers } from "../runtime/index.ts";

const log = getLogger("proxy");

/**
 * Client-side bytes buffered by the server below which the relay sends the
 * next message. Sending only below it keeps Bun's send queue (16 MiB by
 * default, over which Bun 1.4.5 drops messages) from overflowing for
 * messages up to 15 MiB.
 */
const clientSendThreshold = 1024 * 1024;

/**
 * Time the upstream gets to reply to a close from the client, in ms. The
 * WebSocket API cannot drop a connection outright, so after this the
 * exchange counts as over even if the upstream never replied.
 */
const upstreamCloseTimeoutMs = 5_000;

type Message = string | Uint8Array;

export interface RelayOptions {
  /** Bytes the relay may hold for one side before it closes both with 1008. */
  bufferLimit: number;
  /** `host:port` of the upstream, for logs. */
  upstream: string;
  /** Called once, when both sides are closed. */
  onEnd(): void;
}

/** The outcome of waiting for the upstream handshake. */
export type UpstreamOutcome = "open" | "failed" | "client gone";

export class WebSocketRelay {
  readonly #upstream: WebSocket;
  readonly #options: RelayOptions;
  #client: ServerSocket | undefined;
  /** Upstream messages waiting for the client side to open or drain. */
  #pending: Message[] = [];
  #pendingBytes = 0;
  #upstreamClose: { code: number; reason: string } | undefined;
  #clientClosed = false;
  #ended = false;

  constructor(upstream: WebSocket, options: RelayOptions) {
    this.#upstream = upstream;
    this.#options = options;
    upstream.binaryType = "arraybuffer";
    upstream.addEventListener("message", (event) => this.#fromUpstream(event.data));
    upstream.addEventListener("close", (event) => this.#onUpstreamClose(event.code, event.reason));
  }

  /** Resolves when the upstream handshake succeeded or failed, or the client left first. */
  upstreamOpened(clientGone: AbortSignal): Promise<UpstreamOutcome> {
    if (clientGone.aborted) return Promise.resolve("client gone");

    return new Promise((resolve) => {
      const settle = (outcome: UpstreamOutcome) => {
        this.#upstream.removeEventListener("open", onOpen);
        this.#upstream.removeEventListener("close", onClose);
        clientGone.removeEventListener("abort", onAbort);
        resolve(outcome);
      };
      const onOpen = () => settle("open");
      const onClose = () => settle("failed");
      const onAbort = () => settle("client gone");
      this.#upstream.addEventListener("open", onOpen);
      this.#upstream.addEventListener("close", onClose);
      clientGone.addEventListener("abort", onAbort);
    });
  }

  /** Closes the upstream without ending the exchange, when the client side never opened. */
  abandon(): void {
    this.#ended = true;
    this.#pending = [];
    if (this.#upstream.readyState !== WebSocket.CLOSED) this.#upstream.close(1001);
  }

  readonly clientHandlers: ServerSocketHandlers = {
    open: (socket) => {
      this.#client = socket;
      this.#flushToClient();
      if (this.#upstreamClose && this.#pending.length === 0) this.#closeClient();
    },
    message: (_socket, data) => this.#toUpstream(data),
    close: (_socket, code, reason) => {
      this.#clientClosed = true;
      this.#pending = [];
      if (this.#upstream.readyState === WebSocket.OPEN) {
        this.#upstream.close(sendableCloseCode(code, 1001), reason);
        const timer = setTimeout(() => this.#onUpstreamClose(1006, ""), upstreamCloseTimeoutMs);
        this.#upstream.addEventListener("close", () => clearTimeout(timer), { once: true });
      }
      this.#endIfClosed();
    },
    drain: () => {
      this.#flushToClient();
      if (this.#upstreamClose && this.#pending.length === 0) this.#closeClient();
    },
  };

  #fromUpstream(data: unknown): void {
    if (this.#clientClosed || this.#ended) return;
    const message = typeof data === "string" ? data : new Uint8Array(data as ArrayBuffer);

    this.#pending.push(message);
    this.#pendingBytes += byteLength(message);
    if (this.#client) this.#flushToClient();
    if (this.#pendingBytes > this.#options.bufferLimit) this.#overflow("client");
  }

  /** Sends queued messages while the client side keeps up. The `drain` handler resumes it. */
  #flushToClient(): void {
    const client = this.#client;
    if (!client) return;

    while (this.#pending.length > 0 && client.bufferedAmount < clientSendThreshold) {
      const message = this.#pending.shift() as Message;
      this.#pendingBytes -= byteLength(message);
      client.send(message);
    }
  }

  #toUpstream(data: Message): void {
    if (this.#upstream.readyState !== WebSocket.OPEN) return;

    // NOTE: The WebSocket API cannot pause reading from the client, so a
    // client that outpaces the upstream is bounded by the buffer limit.
    this.#upstream.send(typeof data === "string" ? data : (data as Uint8Array<ArrayBuffer>));
    if (this.#upstream.bufferedAmount > this.#options.bufferLimit) this.#overflow("upstream");
  }

  #overflow(side: "client" | "upstream"): void {
    log.warn("websocket relay buffer full", {
      upstream: this.#options.upstream,
      side,
      limit_bytes: this.#options.bufferLimit,
    });
    this.#pending = [];
    this.#pendingBytes = 0;
    this.#upstreamClose ??= { code: 1008, reason: "relay buffer full" };
    this.#closeClient();
    if (this.#upstream.readyState === WebSocket.OPEN) {
      this.#upstream.close(1008, "relay buffer full");
    }
  }

  #onUpstreamClose(code: number, reason: string): void {
    this.#upstreamClose ??= { code, reason };
    // Queued messages go out first, so the `drain` handler closes the client once they have.
    if (this.#client && this.#pending.length === 0) this.#closeClient();
    this.#endIfClosed();
  }

  #closeClient(): void {
    const close = this.#upstreamClose;
    if (!this.#client || this.#clientClosed || !close) return;
    this.#client.close(sendableCloseCode(close.code, 1011), close.reason);
  }

  #endIfClosed(): void {
    if (this.#ended || !this.#clientClosed || !this.#upstreamClose) return;
    this.#ended = true;
    this.#options.onEnd();
  }
}

/**
 * Maps a received close code to one that may be sent. 1005 (no code) becomes
 * 1000. Codes that must not appear in a close frame (1004-1006, 1015 and
 * those outside 1000-1014 and 3000-4999, per RFC 6455 section 7.4) become
 * `fallback`.
 */
export function sendableCloseCode(code: number, fallback: number): number {
  if (code === 1005) return 1000;
  if (code >= 1000 && code <= 1014 && (code < 1004 || code > 1006)) return code;
  if (code >= 3000 && code <= 4999) return code;
  return fallback;
}

/** Returns the size of a message in bytes, counting a string at its UTF-8 upper bound. */
function byteLength(message: Message): number {
  return typeof message === "string" ? message.length * 3 : message.byteLength;
}
