/**
 * The Bun adapter's HTTP/1.1 client for proxied requests, on `Bun.connect`
 * with a pool of keep-alive connections per upstream.
 *
 * Bun 1.4.5's fetch runs on a separate HTTP thread and hands every response
 * across to the JavaScript thread. A client on the event loop's own sockets
 * took about 20% less CPU per small request than fetch through the same
 * `Bun.serve` listener (`scripts/bench`, 2 cores). It also sends only the
 * headers it is given, reads a response while the request body is still
 * being sent, and reports when a response body ends without a stream around it.
 */
import type { Socket, SocketHandler } from "bun";
import { frameChunk, lastChunk, release } from "./chunks.ts";
import { DirectBody } from "./direct-body.ts";
import {
  ChunkedDecoder,
  type Framing,
  maxHeadBytes,
  parseResponseHead,
  responseFraming,
  ResponseParseError,
} from "./http1.ts";
import { OverdueSweep, type Watched } from "../overdue.ts";
import { headBuffer, writeRequestHead } from "./request-head.ts";
import type { UpstreamRequest } from "./types.ts";

/** Idle connections kept per upstream; more are closed when released. */
const maxIdlePerUpstream = 256;

/**
 * Time in ms after which an unused pooled connection is closed. It is below
 * the shortest keep-alive timeout of common app servers (Node's 5 s), so a
 * request rarely meets a connection that the app is closing.
 */
const idleConnectionMs = 4000;

/** Time in ms after which a running exchange starts to watch for the client's disconnect. */
const clientWatchDelayMs = 200;

/** Methods whose request may be sent again after a reused connection failed (RFC 9110 section 9.2.2). */
const retryableMethods = new Set(["GET", "HEAD", "OPTIONS", "PUT", "DELETE"]);

const headEnd = Buffer.from("\r\n\r\n");

/** Error code of a connection that the upstream closed before it sent a complete response. */
const closedEarly = "ECONNRESET";

/** An error with a Node-style `code`, which the proxy uses to tell failures apart. */
class UpstreamError extends Error {
  readonly code: string;

  constructor(message: string, code: string) {
    super(message);
    this.name = "UpstreamError";
    this.code = code;
  }
}

type UpstreamSocket = Socket<Connection>;

/** One pooled TCP connection to an upstream. */
class Connection {
  socket!: UpstreamSocket;
  pool: Pool;
  /** The exchange using the connection; undefined while it is idle. */
  exchange: Exchange | undefined;
  closed = false;
  /** `performance.now()` when the connection went back to the pool. */
  idleSince = 0;

  constructor(pool: Pool) {
    this.pool = pool;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.pool.forget(this);
    this.socket.terminate();
  }
}

const handlers: SocketHandler<Connection> = {
  data(socket, data) {
    const connection = socket.data;
    const exchange = connection.exchange;
    if (exchange === undefined) {
      // Bytes from an idle connection belong to no request.
      connection.close();
      return;
    }
    exchange.onData(data);
  },
  drain(socket) {
    socket.data.exchange?.onDrain();
  },
  close(socket, error) {
    const connection = socket.data;
    connection.closed = true;
    connection.pool.forget(connection);
    connection.exchange?.onClose(error);
  },
  error(socket, error) {
    socket.data.exchange?.onClose(error);
  },
};

/** Idle connections to one `host:port`, most recently used last. */
class Pool {
  readonly hostname: string;
  readonly port: number;
  readonly idle: Connection[] = [];
  /** True once the idle sweep removed the pool from the client's map. */
  dropped = false;
  readonly #client: UpstreamClient;

  constructor(client: UpstreamClient, hostname: string, port: number) {
    this.#client = client;
    this.hostname = hostname;
    this.port = port;
  }

  take(): Connection | undefined {
    return this.idle.pop();
  }

  release(connection: Connection): void {
    connection.exchange = undefined;
    if (connection.closed) return;
    // The sweep drops empty pools, so the connection joins the current one.
    const pool = this.dropped ? this.#client.poolFor(this.hostname, this.port) : this;
    if (pool.idle.length >= maxIdlePerUpstream) {
      connection.close();
      return;
    }
    connection.pool = pool;
    connection.idleSince = performance.now();
    pool.idle.push(connection);
    this.#client.watchIdle();
  }

  forget(connection: Connection): void {
    const index = this.idle.indexOf(connection);
    if (index !== -1) this.idle.splice(index, 1);
  }

  async open(): Promise<Connection> {
    const connection = new Connection(this);
    connection.socket = await Bun.connect<Connection>({
      hostname: this.hostname,
      port: this.port,
      data: connection,
      socket: handlers,
    });
    // Writes go out at once, as nginx's `tcp_nodelay` does: a small body
    // written after the head would otherwise wait for the head's ACK.
    connection.socket.setNoDelay(true);
    return connection;
  }

  /** Closes connections idle since before `cutoff`. */
  expire(cutoff: number): void {
    while (this.idle.length > 0 && this.idle[0]!.idleSince < cutoff) this.idle[0]!.close();
  }
}

/** Per-exchange progress of the response. */
const readingHead = 0;
const readingBody = 1;
const finished = 2;

/** One request and its response on a connection. */
class Exchange implements Watched {
  readonly #request: UpstreamRequest;
  readonly #connection: Connection;
  readonly #resolve: (response: Response) => void;
  readonly #reject: (error: unknown) => void;
  /** True when a failure before any response byte may send the request again. */
  readonly #retryable: boolean;
  readonly #client: UpstreamClient;
  readonly #slow: OverdueSweep<Exchange>;
  #watchingClient = false;
  /** `performance.now()` when the request was sent, for the slow-exchange sweep. */
  startedAt = 0;
  watchIndex = -1;
  #state = readingHead;
  #head: Buffer | undefined;
  /** True once any byte of the response arrived. */
  #answered = false;
  #framing: Framing | undefined;
  #status = 0;
  /** True once the request body has been sent whole. */
  #requestSent = false;
  #drainWaiter: (() => void) | undefined;

  // Body delivery: a whole buffer, or a stream.
  #buffer: Uint8Array<ArrayBuffer> | undefined;
  #filled = 0;
  #body: DirectBody | undefined;
  /** True once a streamed response was returned, so failures error its body. */
  #streaming = false;
  /** True once the response promise was rejected. */
  #rejected = false;
  #remaining = 0;
  #decoder: ChunkedDecoder | undefined;
  #bytes = 0;

  constructor(
    request: UpstreamRequest,
    connection: Connection,
    resolve: (response: Response) => void,
    reject: (error: unknown) => void,
    retryable: boolean,
    client: UpstreamClient,
  ) {
    this.#request = request;
    this.#connection = connection;
    this.#resolve = resolve;
    this.#reject = reject;
    this.#retryable = retryable;
    this.#client = client;
    this.#slow = client.slowExchanges;
  }

  /** Marks the exchange finished and ends its slow-exchange watch. */
  #finish(): void {
    this.#state = finished;
    this.#slow.delete(this);
    // A request body waiting for `drain` stops waiting, so its stream is cancelled.
    this.onDrain();
  }

  /** Subscribes to the client's disconnect, for an exchange that outlasted the fast path. */
  watchClient(): void {
    if (this.#state === finished || this.#watchingClient) return;
    this.#watchingClient = true;
    const signal = this.#request.signal;
    if (signal.aborted) {
      this.abort(signal.reason);
      return;
    }
    signal.addEventListener("abort", () => this.abort(signal.reason), { once: true });
  }

  start(): void {
    const connection = this.#connection;
    connection.exchange = this;
    this.startedAt = performance.now();
    this.#slow.add(this);
    const request = this.#request;
    const length = writeRequestHead(request, headBuffer);
    if (request.body === null) {
      this.#requestSent = true;
      this.#write(headBuffer.view(), false);
      request.onRequestSent?.();
      // A head too large for the socket's buffer is sent in parts.
      if (this.#pending.length > 0) void this.#flushed();
      return;
    }
    this.#write(headBuffer.view(), false);
    void this.#sendBody(request.body, length);
  }

  abort(reason: unknown): void {
    if (this.#state === finished) return;
    this.#fail(reason);
  }

  onData(data: Buffer): void {
    this.#answered = true;
    if (this.#state === readingHead) {
      this.#readHead(data);
      return;
    }
    if (this.#state !== readingBody) {
      this.#connection.close();
      return;
    }
    this.#kept = false;
    this.#readBody(data);
    // The body's bytes were copied into the buffer or the response sink,
    // unless they wait for the stream's first pull.
    if (!this.#kept) release(data);
  }

  /** True when a view of the last data read is still in use, so it may not be released. */
  #kept = false;

  onDrain(): void {
    const waiter = this.#drainWaiter;
    this.#drainWaiter = undefined;
    waiter?.();
  }

  onClose(error: Error | undefined): void {
    if (this.#state === finished) return;
    if (this.#state === readingBody && this.#framing?.body.kind === "close" && !error) {
      this.#endBody();
      return;
    }
    const failure = new UpstreamError(
      error ? `upstream connection failed: ${error.message}` : "upstream closed the connection",
      closedEarly,
    );
    this.#failOrResend(failure);
  }

  /**
   * Writes `bytes`, or queues what the socket did not take. `owned` is false
   * for a view of a shared buffer, which is copied before it is queued.
   */
  #write(bytes: Uint8Array, owned = true): void {
    // Bytes queued for `drain` go first, so nothing overtakes them.
    if (this.#pending.length > 0) {
      this.#pending.push(owned ? bytes : bytes.slice());
      return;
    }
    const written = this.#connection.socket.write(bytes);
    if (written < 0) {
      this.#failOrResend(new UpstreamError("upstream connection is closed", closedEarly));
    } else if (written < bytes.length) {
      const rest = bytes.subarray(written);
      this.#pending.push(owned ? rest : rest.slice());
    }
  }

  readonly #pending: Uint8Array[] = [];

  /** Resolves once everything written so far has left for the socket. */
  async #flushed(): Promise<void> {
    while (this.#pending.length > 0 && this.#state !== finished) {
      await new Promise<void>((resolve) => (this.#drainWaiter = resolve));
      while (this.#pending.length > 0) {
        const next = this.#pending[0]!;
        const written = this.#connection.socket.write(next);
        if (written < 0) return;
        if (written < next.length) {
          this.#pending[0] = next.subarray(written);
          break;
        }
        this.#pending.shift();
      }
    }
  }

  /**
   * Sends the request body: as it is when `length` was declared, which it
   * must match, or in the chunked coding.
   *
   * NOTE: Bun 1.4.5 stops reading a request body while no reader consumes it.
   * A client that leaves while the app reads nothing, so `drain` never comes,
   * goes unnoticed until the app reads or responds.
   */
  async #sendBody(body: ReadableStream<Uint8Array>, length: number | undefined): Promise<void> {
    const reader = body.getReader();
    let sent = 0;
    try {
      await this.#flushed();
      while (this.#state !== finished) {
        const chunk = await reader.read();
        if (this.#state === finished) break;
        if (chunk.done) {
          if (length === undefined) this.#write(lastChunk);
          else if (sent !== length) {
            throw new Error(`request body ended after ${sent} of ${length} bytes`);
          }
          await this.#flushed();
          this.#requestSent = true;
          this.#request.onRequestSent?.();
          return;
        }
        const value = chunk.value;
        if (value.byteLength === 0) continue;
        sent += value.byteLength;
        if (length !== undefined && sent > length) {
          throw new Error(`request body is longer than its Content-Length of ${length} bytes`);
        }
        if (length === undefined) {
          const framed = frameChunk(value);
          release(value);
          this.#write(framed);
          await this.#flushed();
          if (this.#pending.length === 0) release(framed);
        } else {
          this.#write(value);
          await this.#flushed();
          if (this.#pending.length === 0) release(value);
        }
      }
      void reader.cancel().catch(() => undefined);
    } catch (error) {
      // The client's body failed, so the upstream got a cut request.
      if (this.#state !== finished) this.#fail(error);
      else this.#connection.close();
    }
  }

  #readHead(data: Buffer): void {
    let bytes = this.#head === undefined ? data : Buffer.concat([this.#head, data]);
    for (;;) {
      const end = bytes.indexOf(headEnd);
      if ((end === -1 ? bytes.length : end) > maxHeadBytes) {
        this.#fail(new ResponseParseError("response head too long"));
        return;
      }
      if (end === -1) {
        this.#head = bytes;
        return;
      }
      this.#head = undefined;
      let head;
      let framing: Framing;
      try {
        head = parseResponseHead(bytes.toString("latin1", 0, end));
        framing = responseFraming(this.#request.method, head);
      } catch (error) {
        this.#fail(error);
        return;
      }
      bytes = bytes.subarray(end + 4);
      // Interim responses (100 Continue, 103 Early Hints) are dropped, because
      // the listener responds to the client's `Expect` itself.
      if (head.status >= 100 && head.status < 200) {
        if (head.status === 101) {
          this.#fail(new ResponseParseError("unexpected 101 to a plain request"));
          return;
        }
        if (bytes.length === 0) return;
        continue;
      }

      this.#framing = framing;
      this.#status = head.status;
      this.#startBody(head.status, head.statusText, head.fields, framing, bytes);
      return;
    }
  }

  #startBody(
    status: number,
    statusText: string,
    fields: [string, string][],
    framing: Framing,
    rest: Buffer,
  ): void {
    const init = { status, statusText, headers: this.#request.responseHeaders(fields) };
    const body = framing.body;
    const request = this.#request;
    if (body.kind === "none" || (body.kind === "length" && body.length === 0)) {
      this.#finish();
      const response = this.#respond(null, init);
      if (response === undefined) return;
      request.onBodyEnd(status, 0, false);
      this.#resolve(response);
      this.#finishConnection(rest.length === 0);
      return;
    }

    this.#state = readingBody;
    if (body.kind === "length" && body.length <= request.bufferLimit) {
      // A body that came whole with the head needs no buffer of its own.
      if (rest.length >= body.length) {
        this.#buffer = rest.subarray(0, body.length) as Uint8Array<ArrayBuffer>;
        this.#filled = body.length;
        this.#bufferResponse = init;
        this.#endBody(rest.length === body.length);
        return;
      }
      this.#buffer = new Uint8Array(body.length);
      this.#remaining = body.length;
      this.#bufferResponse = init;
    } else {
      if (body.kind === "length") this.#remaining = body.length;
      if (body.kind === "chunked") this.#decoder = new ChunkedDecoder();
      const direct = new DirectBody(
        (paused) => {
          if (this.#state !== readingBody) return;
          if (paused) this.#connection.socket.pause();
          else this.#connection.socket.resume();
        },
        () => {
          if (this.#state === finished) return;
          this.#finish();
          request.onBodyEnd(status, this.#bytes, true);
          this.#connection.close();
        },
      );
      this.#body = direct;
      // Bytes that came with the head are decoded before the response is
      // returned, so broken framing there still gets a 502.
      if (rest.length > 0) this.#readBody(rest);
      if (this.#rejected) return;
      const response = this.#respond(direct.stream, init);
      if (response === undefined) return;
      this.#streaming = true;
      this.#resolve(response);
      if (this.#state === finished) return;
      // A streamed body may last long, so it follows the client from the start.
      this.#slow.delete(this);
      this.watchClient();
      return;
    }
    if (rest.length > 0) this.#readBody(rest);
  }

  #bufferResponse: ResponseInit | undefined;

  /**
   * Builds the response, or fails the exchange and returns undefined when the
   * runtime rejects its status text or a header field.
   */
  #respond(body: BodyInit | null, init: ResponseInit): Response | undefined {
    try {
      return new Response(body, init);
    } catch (error) {
      this.#fail(new ResponseParseError(`response not accepted: ${String(error)}`));
      return undefined;
    }
  }

  #readBody(data: Uint8Array): void {
    const body = this.#framing!.body;
    if (body.kind === "chunked") {
      let used: number;
      try {
        // The decoder needs a function, made only for chunked bodies.
        this.#emitDecoded ??= (decoded) => this.#emit(decoded);
        used = this.#decoder!.push(data, this.#emitDecoded);
      } catch (error) {
        this.#fail(error);
        return;
      }
      if (this.#decoder!.done) this.#endBody(used === data.length);
      return;
    }
    if (body.kind === "close") {
      this.#emit(data);
      return;
    }

    const take = Math.min(this.#remaining, data.length);
    this.#emit(take === data.length ? data : data.subarray(0, take));
    this.#remaining -= take;
    if (this.#remaining === 0) this.#endBody(take === data.length);
  }

  #emitDecoded: ((data: Uint8Array) => void) | undefined;

  #emit(data: Uint8Array): void {
    if (this.#state !== readingBody || data.length === 0) return;
    const buffer = this.#buffer;
    if (buffer !== undefined) {
      buffer.set(data, this.#filled);
      this.#filled += data.length;
      return;
    }
    this.#bytes += data.length;
    if (!this.#body!.write(data)) this.#kept = true;
  }

  /** Ends a body read to its last byte; `clean` is false when extra bytes followed it. */
  #endBody(clean = true): void {
    this.#finish();
    const request = this.#request;
    if (this.#buffer !== undefined) {
      const response = this.#respond(this.#buffer, this.#bufferResponse!);
      if (response === undefined) return;
      request.onBodyEnd(this.#status, this.#filled, false);
      this.#resolve(response);
    } else {
      request.onBodyEnd(this.#status, this.#bytes, false);
      this.#body!.close();
    }
    this.#finishConnection(clean);
  }

  /** Returns the connection to the pool when it can carry another request. */
  #finishConnection(clean: boolean): void {
    const connection = this.#connection;
    // A response that ends before the request body was sent whole leaves the
    // app reading a body that no longer matters, so that connection closes.
    if (!clean || !this.#framing!.reusable || !this.#requestSent || connection.closed) {
      connection.close();
      return;
    }
    if (this.#body?.paused) connection.socket.resume();
    connection.pool.release(connection);
  }

  /** Fails the exchange, or sends the request again when that is safe. */
  #failOrResend(error: unknown): void {
    if (!this.#retryable || this.#answered || this.#state !== readingHead) {
      this.#fail(error);
      return;
    }
    this.#finish();
    this.#connection.close();
    this.#client.resend(this.#request, this.#resolve, this.#reject);
  }

  #fail(error: unknown): void {
    const state = this.#state;
    this.#finish();
    this.#connection.close();
    if (state === readingBody && this.#streaming) {
      this.#request.onBodyEnd(this.#status, this.#bytes, true);
      this.#body!.error(error);
      return;
    }
    this.#rejected = true;
    this.#reject(error);
  }
}

/** Pooled upstream connections and the requests sent over them. */
export class UpstreamClient {
  /** Pools by hostname, then port, so a lookup builds no key string. */
  readonly #pools = new Map<string, Map<number, Pool>>();
  /**
   * Exchanges still running after `clientWatchDelayMs`. Only these subscribe
   * to the client's disconnect: in Bun 1.4.5 `request.signal` is made on first
   * access, and one is already aborted when the client left before that, so
   * fast exchanges skip the signal and its listener.
   */
  readonly slowExchanges = new OverdueSweep<Exchange>(clientWatchDelayMs, (exchange) => {
    exchange.watchClient();
  });
  #idleTimer: ReturnType<typeof setInterval> | undefined;

  /** Sends `request` and resolves with the upstream's response; see `Runtime.fetchUpstream`. */
  send(request: UpstreamRequest): Promise<Response> {
    const pool = this.poolFor(request.hostname, request.port);
    const pooled = pool.take();
    if (pooled === undefined) return this.#sendFresh(request, pool);

    // The app may close an idle connection just as a request is sent on it,
    // so a bodiless idempotent request on a reused connection may be resent.
    const retryable = request.body === null && retryableMethods.has(request.method);
    return new Promise<Response>((resolve, reject) => {
      this.#start(request, pooled, resolve, reject, retryable);
    });
  }

  /**
   * Sends `request` again on a fresh connection after a reused one closed
   * before any response byte, settling the first attempt's promise.
   */
  resend(
    request: UpstreamRequest,
    resolve: (response: Response) => void,
    reject: (error: unknown) => void,
  ): void {
    this.#sendFresh(request, this.poolFor(request.hostname, request.port)).then(resolve, reject);
  }

  async #sendFresh(request: UpstreamRequest, pool: Pool): Promise<Response> {
    const connection = await openFor(pool, request);
    return await new Promise<Response>((resolve, reject) => {
      this.#start(request, connection, resolve, reject, false);
    });
  }

  #start(
    request: UpstreamRequest,
    connection: Connection,
    resolve: (response: Response) => void,
    reject: (error: unknown) => void,
    retryable: boolean,
  ): void {
    const exchange = new Exchange(request, connection, resolve, reject, retryable, this);
    request.cancel = (reason) => exchange.abort(reason);
    try {
      exchange.start();
    } catch (error) {
      exchange.abort(error);
    }
  }

  /** Returns the pool for `hostname:port`, made on first use. */
  poolFor(hostname: string, port: number): Pool {
    let byPort = this.#pools.get(hostname);
    if (byPort === undefined) {
      byPort = new Map();
      this.#pools.set(hostname, byPort);
    }
    let pool = byPort.get(port);
    if (pool === undefined) {
      pool = new Pool(this, hostname, port);
      byPort.set(port, pool);
    }
    return pool;
  }

  /** Starts the sweep that closes unused connections, while any are idle. */
  watchIdle(): void {
    if (this.#idleTimer !== undefined) return;
    this.#idleTimer = setInterval(() => this.#expire(), idleConnectionMs / 4);
    this.#idleTimer.unref?.();
  }

  #expire(): void {
    const cutoff = performance.now() - idleConnectionMs;
    let idle = 0;
    for (const [hostname, byPort] of this.#pools) {
      for (const [port, pool] of byPort) {
        pool.expire(cutoff);
        if (pool.idle.length === 0) {
          pool.dropped = true;
          byPort.delete(port);
        }
        idle += pool.idle.length;
      }
      if (byPort.size === 0) this.#pools.delete(hostname);
    }
    if (idle === 0) {
      clearInterval(this.#idleTimer);
      this.#idleTimer = undefined;
    }
  }

  /** Closes every idle connection. */
  close(): void {
    for (const byPort of this.#pools.values()) {
      for (const pool of byPort.values()) {
        pool.dropped = true;
        for (const connection of [...pool.idle]) connection.close();
      }
    }
    this.#pools.clear();
  }
}

/**
 * Opens a connection for `pool`, or rejects as soon as `request.signal`
 * aborts or `request.cancel` is called; a connection that opens after that
 * is closed.
 */
function openFor(pool: Pool, request: UpstreamRequest): Promise<Connection> {
  const signal = request.signal;
  if (signal.aborted) return Promise.reject(signal.reason);
  const opening = pool.open();
  return new Promise<Connection>((resolve, reject) => {
    let settled = false;
    const giveUp = (reason: unknown) => {
      if (settled) return;
      settled = true;
      reject(reason);
      opening.then((connection) => connection.close(), () => undefined);
    };
    const onAbort = () => giveUp(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    request.cancel = giveUp;
    opening.then(
      (connection) => {
        signal.removeEventListener("abort", onAbort);
        if (settled) {
          connection.close();
          return;
        }
        settled = true;
        resolve(connection);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        if (settled) return;
        settled = true;
        reject(error);
      },
    );
  });
}
