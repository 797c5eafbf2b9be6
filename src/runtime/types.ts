/**
 * The runtime adapter contract. Everything outside `src/runtime/` sees plain
 * `Request`/`Response` and these interfaces; only the adapters call `Bun.*`
 * or `Deno.*`.
 */

/** A certificate and its private key, both PEM text. */
export interface TlsCertificate {
  cert: string;
  key: string;
  /** SNI name this pair is served for; omitted for the default certificate. */
  serverName?: string;
}

/** Per-request facts and abilities that only the runtime's server provides. */
export interface RequestContext {
  /** Peer IP address of the TCP connection (no port). */
  readonly remoteAddress: string;
  /** Turns off the server's idle timeout for this request, for long streams. */
  disableTimeout(): void;
  /**
   * Accepts a WebSocket upgrade for this request and returns the response the
   * handler must return. `protocol` and `extensions` are the values agreed
   * with the upstream, sent back as `Sec-WebSocket-Protocol`/`-Extensions`.
   * Returns undefined when the request cannot be upgraded.
   */
  upgrade(options: UpgradeOptions): Response | undefined;
  /**
   * Aborts when the client disconnects before the response is complete, or
   * when a forced stop (`RunningServer.stop(true)`) cuts the request.
   */
  readonly clientGone: AbortSignal;
  /** True once a forced stop began, so an abort of `clientGone` came from the server. */
  readonly stoppedByServer: boolean;
}

export interface UpgradeOptions {
  protocol?: string;
  extensions?: string;
  handlers: ServerSocketHandlers;
}

/** The client side of a proxied WebSocket, as seen by the server. */
export interface ServerSocket {
  /** Sends a frame; returns false when it was queued under backpressure. */
  send(data: string | Uint8Array): boolean;
  close(code?: number, reason?: string): void;
  /** Bytes queued and not yet written to the client. */
  readonly bufferedAmount: number;
}

export interface ServerSocketHandlers {
  open(socket: ServerSocket): void;
  message(socket: ServerSocket, data: string | Uint8Array): void;
  close(socket: ServerSocket, code: number, reason: string): void;
  /** Called when the send queue has drained after backpressure. */
  drain(socket: ServerSocket): void;
}

export type RequestHandler = (
  request: Request,
  context: RequestContext,
) => Response | Promise<Response>;

export interface ServeOptions {
  hostname: string;
  port: number;
  handler: RequestHandler;
  /** Certificates for HTTPS; the first one without `serverName` is the default. */
  tls?: TlsCertificate[];
  /** Lets a second server bind the same port, for certificate swaps. */
  reusePort?: boolean;
  /** Largest request body accepted, in bytes. Default: unlimited. */
  maxRequestBodySize?: number;
  /** Seconds a connection may stay idle. Default 10; 0 turns it off. */
  idleTimeout?: number;
}

export interface RunningServer {
  readonly hostname: string;
  /** The bound port, useful when port 0 was requested. */
  readonly port: number;
  /**
   * Stops accepting connections. With `closeActive` false, open connections
   * and WebSockets keep going until they finish.
   */
  stop(closeActive: boolean): Promise<void>;
  /** Connections whose responses are still being written. */
  readonly pendingRequests: number;
}

/** A request for `Runtime.fetchUpstream`. */
export interface UpstreamRequest {
  /** The upstream's address (an IP address or name). */
  hostname: string;
  port: number;
  method: string;
  /** Path and query, starting with `/`. */
  target: string;
  /** Header fields to send as they are, `Host` among them, as `[name, value]` pairs with lower-case names. */
  headers: [string, string][];
  /**
   * The request body. Its chunks pass to the client, which may detach a
   * chunk's buffer once the chunk is sent, so a source must not reuse them.
   */
  body: ReadableStream<Uint8Array> | null;
  /** Aborts the request, and the response body while it streams. */
  signal: AbortSignal;
  /**
   * Set by `fetchUpstream` while the request waits for the response head:
   * calling it ends the request, which then rejects with `reason`.
   */
  cancel?: (reason: Error) => void;
  /**
   * Called when the request head and the whole body have been sent, so that
   * a deadline for the response head can start then. A request sent again
   * on a fresh connection may call it twice.
   */
  onRequestSent?(): void;
  /**
   * Turns the response's header fields, `[name, value]` pairs with lower-case
   * names, into those of the returned response.
   */
  responseHeaders(fields: [string, string][]): [string, string][];
  /**
   * Response bodies whose `Content-Length` is at most this many bytes are
   * read whole before the response is returned, so they keep their length.
   */
  bufferLimit: number;
  /**
   * Called once for every response that `fetchUpstream` returns, when its
   * body has been handed over whole (`truncated` false), was cancelled, or
   * failed upstream. `bytes` counts the body bytes handed over. For a body
   * read whole, and for a response without a body, it is called before the
   * response is returned.
   */
  onBodyEnd(status: number, bytes: number, truncated: boolean): void;
}

export interface UpstreamSocketOptions {
  protocols?: string[];
  /** Header fields for the handshake, as `[name, value]` pairs. */
  headers?: [string, string][];
}

/** Options for a fetch function bound to one origin. */
export interface OriginFetchOptions {
  /** Unix socket path; when set, URLs are sent as `http://localhost/...` over it. */
  unixSocket?: string;
}

export interface Runtime {
  readonly name: "bun" | "deno";
  serve(options: ServeOptions): RunningServer;
  /**
   * Sends a proxied request upstream over HTTP/1.1: redirects are returned,
   * never followed, and bodies pass through byte for byte with
   * `Content-Encoding` kept. Rejects when no response head arrived, with an
   * error that `isConnectFailure` recognises when no connection was made.
   */
  fetchUpstream(request: UpstreamRequest): Promise<Response>;
  /** Returns a `fetch` for API calls, over a unix socket when one is given. */
  createFetch(options: OriginFetchOptions): typeof fetch;
  /** Opens a WebSocket to an upstream app. */
  connectWebSocket(url: string, options: UpstreamSocketOptions): WebSocket;
  /** Registers a signal handler and returns a function that removes it. */
  onSignal(signal: "SIGHUP" | "SIGINT" | "SIGTERM", listener: () => void): () => void;
}
