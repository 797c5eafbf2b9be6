/**
 * HTTPS for the router: the HTTPS listener with its certificates from files
 * and ACME, the plain HTTP listener's share of the work (HTTP-01 challenges
 * and the redirect to HTTPS), HSTS, and re-applying a changed `tls` block.
 *
 * NOTE: a changed certificate set starts a new listener generation and stops
 * the old one with `stop(false)`. On Bun 1.4.5 that lets in-flight requests
 * and open WebSockets finish, but closes idle keep-alive connections at once,
 * and `Server.stop` has no option to keep them (bun-types 1.4.5, serve.d.ts),
 * so clients reopen those. A reload with unchanged certificates, address and
 * ACME settings keeps the running listener and every connection.
 */
import type { AcmeConfig, ListenAddress, TlsConfig } from "../config/types.ts";
import { isSystemError, ListenError } from "../listen-error.ts";
import { getLogger } from "../log.ts";
import type { Observer } from "../observe.ts";
import type { RequestHandler } from "../runtime/index.ts";
import {
  AcmeManager,
  CertificateStore,
  ensurePortFree,
  HttpsListener,
  type LoadedCertificate,
  loadTlsCertificates,
  redirectToHttps,
  withHsts,
} from "../tls/index.ts";

const log = getLogger("tls");

export interface HttpsDependencies {
  /** The router's handler for requests that arrived over TLS. */
  handler: RequestHandler;
  /** Receives the ACME order events, for the metrics. */
  observer: Observer;
  /** Reports whether `name` routes to a VM now. */
  routes(name: string): boolean;
  /** Lists every name that routes to a VM now. */
  routedNames(): Set<string>;
  /** How often each ACME manager checks for renewals and retries, in ms. Default 5 minutes. */
  acmeCheckIntervalMs?: number;
}

/** A server that can be stopped gracefully and then, after a deadline, at once. */
interface Stoppable {
  stop(closeActive: boolean): Promise<void>;
  readonly pendingRequests: number;
}

/** One certificate store with the listener that serves it and the ACME manager that fills it. */
interface Generation {
  store: CertificateStore;
  listener: HttpsListener;
  acme: AcmeManager | undefined;
}

export class HttpsService {
  #config: TlsConfig;
  readonly #dependencies: HttpsDependencies;
  #current: Generation;
  /** Generations replaced on a reload whose listeners still have open connections. */
  readonly #replaced = new Set<Generation>();
  /** Names last passed to the ACME manager. */
  #names = new Set<string>();

  /**
   * Loads the certificate files, checks that no other socket is bound
   * to `tls.listen`, starts ACME when configured and binds the HTTPS listener.
   * Rejects with `CertificateError` for an unusable or expired file, with a
   * `ListenError` naming `tls.listen` when the bind fails or another socket
   * is bound to the address, and with the runtime's error when it rejects a
   * certificate.
   */
  static async start(config: TlsConfig, dependencies: HttpsDependencies): Promise<HttpsService> {
    const certificates = loadTlsCertificates(config.certificates);
    await ensurePortFree(config.listen);
    return new HttpsService(config, dependencies, certificates);
  }

  private constructor(
    config: TlsConfig,
    dependencies: HttpsDependencies,
    certificates: LoadedCertificate[],
  ) {
    this.#config = config;
    this.#dependencies = dependencies;
    this.#current = this.#startGeneration(config, config.listen, certificates);
    this.indexRefreshed();
  }

  /** The HTTPS listener's bound address, or undefined while it waits for a first certificate. */
  get address(): ListenAddress | undefined {
    const port = this.#current.listener.port;
    return port === undefined ? undefined : { hostname: this.#config.listen.hostname, port };
  }

  /** The HTTPS listener's request handler: the router, plus HSTS when configured. */
  readonly #handleHttps: RequestHandler = async (request, context) => {
    const response = await this.#dependencies.handler(request, context);
    const maxAge = this.#config.hstsMaxAgeSeconds;
    // A 101 from a WebSocket upgrade must be returned as the runtime made it.
    if (maxAge === undefined || response.status < 200) return response;
    return withHsts(response, maxAge);
  };

  /**
   * Returns the plain HTTP listener's response to an ACME challenge or,
   * with `redirect_http`, the redirect to HTTPS. Returns undefined when the
   * router should handle the request.
   */
  handlePlainHttp(request: Request): Response | undefined {
    // A replaced ACME manager may still be finishing an order.
    let notFound: Response | undefined;
    for (const generation of [this.#current, ...this.#replaced]) {
      const challenge = generation.acme?.handleAcmeChallenge(request);
      if (challenge === undefined) continue;
      if (challenge.ok) return challenge;
      notFound ??= challenge;
    }
    if (notFound) return notFound;

    if (!this.#config.redirectHttp) return undefined;
    // NOTE: until the first certificate arrives nothing listens for HTTPS, so
    // plain HTTP is served as it is rather than redirected to a closed port.
    const port = this.#current.listener.port;
    if (port === undefined) return undefined;
    return redirectToHttps(request, port);
  }

  /**
   * Passes the routed names to the ACME manager when they changed since the
   * last call. Called after every index refresh.
   */
  indexRefreshed(): void {
    const acme = this.#current.acme;
    if (acme === undefined) return;

    const names = this.#dependencies.routedNames();
    if (sameNames(names, this.#names)) return;
    this.#names = names;
    acme.namesChanged(names);
  }

  /**
   * Applies a changed `tls` block. Certificate files are read again even
   * when their paths are unchanged, so a reload picks up renewed files, but
   * the listener is replaced only when the certificates' PEM text, the
   * address or the ACME settings changed. A new address or new ACME
   * settings start a new listener (on the same port when only ACME changed)
   * while the old one finishes its connections. Rejects, with nothing
   * changed, when a file is unusable or expired, or when a new address is
   * bound by another socket or cannot be bound.
   */
  async apply(next: TlsConfig): Promise<void> {
    const listenChanged = next.listen.hostname !== this.#config.listen.hostname ||
      next.listen.port !== this.#config.listen.port;
    const acmeChanged = !sameAcme(next.acme, this.#config.acme);
    const certificates = loadTlsCertificates(next.certificates);

    if (!listenChanged && !acmeChanged) {
      this.#config = next;
      const replaced = this.#current.store.replaceFromFiles(certificates);
      log.info("https settings applied", {
        certificates: certificates.length,
        listener_replaced: replaced,
      });
      return;
    }
    if (listenChanged) await ensurePortFree(next.listen);

    // With the address unchanged, the new listener shares the bound port
    // through reusePort, as a certificate swap does.
    const bindTo = listenChanged
      ? next.listen
      : { hostname: next.listen.hostname, port: this.#current.listener.port ?? next.listen.port };
    const generation = this.#startGeneration(next, bindTo, certificates);
    const previous = this.#current;
    this.#config = next;
    this.#current = generation;
    this.#names = new Set();
    this.indexRefreshed();
    log.info("https listener replaced", {
      listen: `${next.listen.hostname}:${next.listen.port}`,
      reason: listenChanged ? "listen changed" : "acme changed",
    });

    // Not awaited: open WebSockets on the old listener may last for hours.
    this.#replaced.add(previous);
    void this.#stopGeneration(previous, false).then(() => this.#replaced.delete(previous));
  }

  /**
   * Stops every listener and ACME manager. Open requests get up to
   * `timeoutMs` to finish before their connections are closed.
   */
  async stop(timeoutMs: number): Promise<void> {
    const generations = [this.#current, ...this.#replaced];
    await stopWithin(generations.map((generation) => generation.listener), timeoutMs);
    // An order in progress is not waited for, because the listener that the
    // CA validates it through is closing.
    for (const generation of generations) void generation.acme?.stop();
  }

  #startGeneration(
    config: TlsConfig,
    bindTo: ListenAddress,
    certificates: LoadedCertificate[],
  ): Generation {
    const store = new CertificateStore(certificates);
    const acme = config.acme ? this.#startAcme(config.acme, store) : undefined;
    try {
      const listener = new HttpsListener({
        hostname: bindTo.hostname,
        port: bindTo.port,
        handler: this.#handleHttps,
        store,
        // As on the plain listener: streams may be quiet for long.
        idleTimeout: 0,
      });
      return { store, listener, acme };
    } catch (error) {
      void acme?.stop();
      // The runtime's bind error names neither the key nor the address.
      if (isSystemError(error)) throw new ListenError("tls.listen", config.listen, error);
      throw error;
    }
  }

  #startAcme(config: AcmeConfig, store: CertificateStore): AcmeManager {
    const interval = this.#dependencies.acmeCheckIntervalMs;
    return new AcmeManager({
      config,
      store,
      routes: (name) => this.#dependencies.routes(name),
      observer: this.#dependencies.observer,
      ...(interval === undefined ? {} : { checkIntervalMs: interval }),
    });
  }

  async #stopGeneration(generation: Generation, closeActive: boolean): Promise<void> {
    void generation.acme?.stop();
    await generation.listener.stop(closeActive);
  }
}

/**
 * Stops `servers` gracefully and closes their remaining connections once
 * `timeoutMs` has passed.
 */
export async function stopWithin(servers: Stoppable[], timeoutMs: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const graceful = Promise.all(servers.map((server) => server.stop(false)));
  const deadline = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), timeoutMs);
  });
  const outcome = await Promise.race([graceful.then(() => "done" as const), deadline]);
  clearTimeout(timer);
  if (outcome === "done") return;

  const pending = servers.reduce((sum, server) => sum + server.pendingRequests, 0);
  log.warn("https shutdown timeout reached, closing open connections", { pending });
  await Promise.all(servers.map((server) => server.stop(true)));
}

function sameNames(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  if (a.size !== b.size) return false;
  for (const name of a) {
    if (!b.has(name)) return false;
  }
  return true;
}

function sameAcme(a: AcmeConfig | undefined, b: AcmeConfig | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.email === b.email && a.directoryUrl === b.directoryUrl &&
    a.caBundle === b.caBundle && a.storage === b.storage;
}
