/**
 * The HTTPS listener: serves a request handler over TLS with the
 * certificates in a `CertificateStore`, and applies every change to the
 * store on the same port.
 *
 * Bun's server has no SNI callback and `reload()` does not add certificates
 * (checked on Bun 1.4.5), so a change starts a second server on the same
 * port with `reusePort` and the new certificate list. It then stops the old
 * server with `stop(false)`, so the old one accepts nothing new while its
 * in-flight requests and WebSockets run until they finish.
 *
 * NOTE: `stop(false)` also closes the old server's idle keep-alive
 * connections at once, and Bun 1.4.5 has no option to keep them, so clients
 * reopen those.
 *
 * NOTE: on Deno the runtime adapter serves only the default certificate,
 * because `Deno.serve` takes a single cert/key pair, so SNI selection works
 * on Bun alone.
 */
import { getLogger } from "../log.ts";
import { type RequestHandler, type RunningServer, runtime } from "../runtime/index.ts";
import type { CertificateStore } from "./store.ts";

const log = getLogger("tls");

export interface HttpsListenerOptions {
  hostname: string;
  /** Port to bind; 0 picks an ephemeral port, which later swaps then reuse. */
  port: number;
  handler: RequestHandler;
  store: CertificateStore;
  /** Seconds a connection may stay idle; passed to `runtime.serve`. */
  idleTimeout?: number;
  /** Largest request body accepted, in bytes; passed to `runtime.serve`. */
  maxRequestBodySize?: number;
}

export class HttpsListener {
  #options: HttpsListenerOptions;
  #current: RunningServer | undefined;
  /** Servers replaced by a swap whose connections may still be open. */
  #retired = new Set<RunningServer>();
  #boundPort: number | undefined;
  #queue: Promise<void> = Promise.resolve();
  #swapQueued = false;
  #stopped = false;
  /** Set by the first `stop`: moves the current server to `#retired` after pending swaps. */
  #retiring: Promise<void> | undefined;
  #unsubscribe: () => void;

  /**
   * Starts serving when the store contains a certificate, else as soon as one
   * arrives, and follows every later change of the store.
   * Throws when the first bind fails (for example, the port is in use).
   */
  constructor(options: HttpsListenerOptions) {
    this.#options = options;
    this.#unsubscribe = options.store.subscribe(() => this.#queueSwap());
    if (options.store.serveList().length > 0) {
      this.#swap();
    } else {
      log.warn("https waiting for a certificate", { port: options.port });
    }
  }

  /** The bound port, or undefined until the first certificate arrives. */
  get port(): number | undefined {
    return this.#boundPort;
  }

  /** Number of servers started so far; each certificate change adds one. */
  generation = 0;

  /** Resolves when every queued certificate change has been applied. */
  settled(): Promise<void> {
    return this.#queue;
  }

  /** Requests still being served, over the current server and every retired one. */
  get pendingRequests(): number {
    let pending = this.#current?.pendingRequests ?? 0;
    for (const server of this.#retired) pending += server.pendingRequests;
    return pending;
  }

  /**
   * Stops the current server and every retired one. With `closeActive`
   * false, open connections finish first, which for a WebSocket may take
   * hours. A later call with `closeActive` true then closes the servers that
   * are still open, so a caller can enforce a deadline.
   */
  async stop(closeActive: boolean): Promise<void> {
    this.#retiring ??= this.#retireCurrent();
    await this.#retiring;
    const servers = [...this.#retired];
    await Promise.all(
      servers.map(async (server) => {
        await server.stop(closeActive);
        this.#retired.delete(server);
      }),
    );
  }

  async #retireCurrent(): Promise<void> {
    this.#stopped = true;
    this.#unsubscribe();
    await this.#queue;
    if (this.#current) this.#retired.add(this.#current);
    this.#current = undefined;
  }

  #queueSwap(): void {
    if (this.#swapQueued || this.#stopped) return;
    this.#swapQueued = true;
    // Changes that arrive while a swap is queued are picked up by that swap.
    this.#queue = this.#queue.then(() => {
      this.#swapQueued = false;
      if (this.#stopped) return;
      try {
        this.#swap();
      } catch (error) {
        log.error("https certificate swap failed", { port: this.#boundPort, error });
      }
    });
  }

  #swap(): void {
    const certificates = this.#options.store.serveList();
    if (certificates.length === 0) return;

    const next = runtime.serve({
      hostname: this.#options.hostname,
      port: this.#boundPort ?? this.#options.port,
      handler: this.#options.handler,
      tls: certificates,
      reusePort: true,
      ...(this.#options.idleTimeout === undefined
        ? {}
        : { idleTimeout: this.#options.idleTimeout }),
      ...(this.#options.maxRequestBodySize === undefined
        ? {}
        : { maxRequestBodySize: this.#options.maxRequestBodySize }),
    });
    this.#boundPort = next.port;
    this.generation += 1;

    const previous = this.#current;
    this.#current = next;
    log.info("https serving", {
      port: next.port,
      certificates: certificates.length,
      generation: this.generation,
    });
    if (!previous) return;

    // Not awaited: the old server's promise resolves only when its last
    // connection ends, which for a WebSocket can take hours.
    this.#retired.add(previous);
    void previous.stop(false).then(() => this.#retired.delete(previous));
  }
}
