/**
 * Wires Relight together: the Slicer client, the VM fleet with its
 * background refresh and idle watcher, the router's listener, the
 * optional HTTPS listener and the optional ask server. `startRelight` is the
 * one entry point that the CLI, the demo and the tests use.
 */
import { pauseVm, wakeVm } from "./admin/control.ts";
import { reloadFromFile, serializeReloads } from "./admin/lifecycle.ts";
import { RelightMetrics } from "./admin/metrics.ts";
import type { AdminRouter, ReloadResult } from "./admin/server.ts";
import { AdminService } from "./admin/service.ts";
import { goingAway, WebSocketTracker } from "./admin/websockets.ts";
import { HttpsService } from "./app/https.ts";
import { routedNames, routesToVm } from "./app/routed-names.ts";
import { createRouterHandler, type RouterState } from "./app/router.ts";
import { createAskHandler, logAskWarnings } from "./ask.ts";
import { type Clock, systemClock } from "./clock.ts";
import type { Config, ListenAddress, SiteConfig, TlsConfig } from "./config/types.ts";
import { bindListener } from "./listen-error.ts";
import { getLogger } from "./log.ts";
import {
  configureLogging,
  logExchange,
  type LoggingHandle,
  type LoggingOptions,
} from "./logging/index.ts";
import { combineObservers, noopObserver, type Observer } from "./observe.ts";
import { parseTrustedProxies, type ProxyOptions } from "./proxy/index.ts";
import { type RequestHandler, type RunningServer, runtime } from "./runtime/index.ts";
import { type SlicerCallReport, SlicerClient } from "./slicer/client.ts";
import type { StatusReport } from "./status.ts";
import { Fleet } from "./vm/fleet.ts";

const log = getLogger("relight");

export interface RelightOptions {
  /** Time source for activity, the idle watcher and the refresh. Default: the system clock. */
  clock?: Clock;
  /** Receives metric events, besides the Prometheus metrics. */
  observer?: Observer;
  /**
   * Sets up the process's logging from `config.log` and again on each
   * reload. Default: logging is left as it is, which drops every record.
   */
  logging?: LoggingOptions;
  /** Adds the process metrics (CPU, memory, open files, event loop lag) to `GET /metrics`. Default true. */
  processMetrics?: boolean;
  /**
   * Minimum time between index refreshes caused by unknown hosts, in ms.
   * Default 1000.
   */
  unknownHostRefreshIntervalMs?: number;
  /**
   * How often the ACME manager checks for renewals and retries, in ms; 0
   * turns the timer off. Default 5 minutes.
   */
  acmeCheckIntervalMs?: number;
}

/** A running Relight. */
export interface Relight {
  /** The router listener's bound address (the real port when 0 was configured). */
  readonly address: ListenAddress;
  /**
   * The HTTPS listener's bound address, when `tls` is configured and a
   * certificate is available to serve.
   */
  readonly httpsAddress: ListenAddress | undefined;
  /** The ask server's bound address, when `ask` is configured. */
  readonly askAddress: ListenAddress | undefined;
  /** The admin server's bound address, when `admin` is configured. */
  readonly adminAddress: ListenAddress | undefined;
  /** The Prometheus metrics that the admin server serves. */
  readonly metrics: RelightMetrics;
  /** The current status: slicerd reachability, index age and every VM. */
  status(): StatusReport;
  /** Refreshes the VM index now; rejects when slicerd fails. */
  refresh(): Promise<void>;
  /** Runs one idle-watcher pass now, as the `watch_interval` timer does. */
  watchIdle(): void;
  /**
   * Applies a new configuration: sites, timings, slicerd settings and
   * trusted proxies at once; listeners are rebound when their address
   * changed. When any listener fails to bind, the reload rejects and every
   * old listener keeps serving. VM state and open connections are kept.
   */
  reload(config: Config): Promise<void>;
  /**
   * Re-reads `config.file` and applies it, one reload at a time, as SIGHUP
   * and `POST /reload` do. An invalid file is logged and the running config
   * stays.
   */
  reloadFromFile(): Promise<ReloadResult>;
  /**
   * Stops the listeners and background work, closes WebSockets with 1001 and
   * gives open requests up to `shutdownTimeoutMs` to finish before closing
   * them. VMs are neither paused nor resumed.
   */
  shutdown(): Promise<void>;
}

function sameAddress(a: ListenAddress | undefined, b: ListenAddress | undefined): boolean {
  return a?.hostname === b?.hostname && a?.port === b?.port;
}

function boundAddress(server: RunningServer): ListenAddress {
  return { hostname: server.hostname, port: server.port };
}

/** Starts Relight with `config` and resolves once its listeners are bound. */
export async function startRelight(config: Config, options: RelightOptions = {}): Promise<Relight> {
  const clock = options.clock ?? systemClock;
  let logging: LoggingHandle | undefined = options.logging
    ? configureLogging(config.log, { ...options.logging, secrets: secretsOf(config) })
    : undefined;
  // The metrics and the admin API call `relight`, which is declared below
  // and exists before either can call it.
  const metrics = new RelightMetrics(() => relight.status(), {
    processMetrics: options.processMetrics ?? true,
  });
  // The ACME manager learns the routed names after every index refresh.
  let https: HttpsService | undefined;
  const indexWatcher: Observer = {
    ...noopObserver,
    indexRefreshed: (ok) => {
      if (ok) https?.indexRefreshed();
    },
  };
  const observer = combineObservers(
    metrics,
    ...(options.observer ? [options.observer] : []),
    indexWatcher,
  );
  let serving = true;

  let current = config;
  let sites: readonly SiteConfig[] = config.sites;
  let proxyOptions: ProxyOptions = {
    trustedProxies: parseTrustedProxies(config.trustedProxies),
    proto: "http",
    responseTimeoutMs: config.responseTimeoutMs,
  };
  let slicerReachable = false;
  let slicerAnsweredAt: number | null = null;

  const onCall = (report: SlicerCallReport) => {
    slicerReachable = report.status !== 0;
    if (slicerReachable) slicerAnsweredAt = clock.now();
  };
  const createSlicer = (next: Config) => new SlicerClient(next.slicer, { observer, onCall });

  const fleet = new Fleet({
    slicer: createSlicer(config),
    clock,
    observer,
    sites,
    watchIntervalMs: config.watchIntervalMs,
    refreshIntervalMs: config.refreshIntervalMs,
    ...(options.unknownHostRefreshIntervalMs === undefined
      ? {}
      : { unknownHostRefreshIntervalMs: options.unknownHostRefreshIntervalMs }),
  });

  const webSockets = new WebSocketTracker();
  const state: RouterState = {
    fleet,
    observer,
    sites: () => sites,
    proxyOptions: () => proxyOptions,
    exchangeEnded: logExchange,
    webSockets,
  };
  const routerHandler = createRouterHandler(state);
  const httpsState: RouterState = {
    ...state,
    proxyOptions: () => ({ ...proxyOptions, proto: "https" }),
  };
  const httpsRouterHandler = createRouterHandler(httpsState);
  // ACME challenges and the redirect to HTTPS come before any routing.
  const plainHandler: RequestHandler = (request, context) =>
    https?.handlePlainHttp(request) ?? routerHandler(request, context);
  const startHttps = (tls: TlsConfig) =>
    HttpsService.start(tls, {
      handler: httpsRouterHandler,
      observer,
      routes: (name) => routesToVm(fleet, sites, name),
      routedNames: () =>
        routedNames(fleet.snapshot(), sites, (name) => routesToVm(fleet, sites, name)),
      ...(options.acmeCheckIntervalMs === undefined
        ? {}
        : { acmeCheckIntervalMs: options.acmeCheckIntervalMs }),
    });
  const askHandler = createAskHandler(state);

  try {
    await fleet.refresh();
  } catch (error) {
    // Known-running VMs do not need slicerd, and the background refresh
    // retries, so Relight starts anyway and returns 503 for unknown hosts.
    log.warn("initial index refresh failed", { error: String(error) });
  }
  fleet.start();

  const serveRouter = (listen: ListenAddress) =>
    bindListener("listen", listen, () =>
      runtime.serve({
        hostname: listen.hostname,
        port: listen.port,
        handler: plainHandler,
        // Streams such as server-sent events may be quiet for long; the
        // proxy's own handling of client disconnects bounds each request.
        idleTimeout: 0,
      }));
  const serveAsk = (listen: ListenAddress) =>
    bindListener(
      "ask.listen",
      listen,
      () => runtime.serve({ hostname: listen.hostname, port: listen.port, handler: askHandler }),
    );

  let router: RunningServer;
  let ask: RunningServer | undefined;
  try {
    router = serveRouter(config.listen);
  } catch (error) {
    fleet.stop();
    throw error;
  }
  try {
    ask = config.ask ? serveAsk(config.ask.listen) : undefined;
    logAskWarnings(config);
    https = config.tls ? await startHttps(config.tls) : undefined;
  } catch (error) {
    fleet.stop();
    await Promise.all([router.stop(true), ask?.stop(true)]);
    throw error;
  }
  const reloadFile = serializeReloads(async () => {
    const result = await reloadFromFile(current.file, (next) => relight.reload(next));
    metrics.reloadFinished(result.ok);
    return result;
  });
  const control: AdminRouter = {
    status: () => relight.status(),
    serving: () => serving,
    wake: (hostname) => wakeVm(fleet.get(hostname)),
    pause: (hostname, force) => pauseVm(fleet.get(hostname), force),
    reload: reloadFile,
  };
  let admin: AdminService;
  try {
    admin = new AdminService(control, metrics, config, () => clock.now());
  } catch (error) {
    fleet.stop();
    await Promise.all([router.stop(true), ask?.stop(true), https?.stop(0)]);
    throw error;
  }

  log.info("relight started", {
    listen: `${router.hostname}:${router.port}`,
    ...(config.tls ? { https: `${config.tls.listen.hostname}:${config.tls.listen.port}` } : {}),
    ...(ask ? { ask: `${ask.hostname}:${ask.port}` } : {}),
    ...(admin.address ? { admin: `${admin.address.hostname}:${admin.address.port}` } : {}),
    slicer: describeSlicerUrl(config.slicer.url),
    vms: fleet.snapshot().length,
  });

  const stopServer = async (server: RunningServer, timeoutMs: number) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const graceful = server.stop(false);
    const deadline = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), timeoutMs);
    });
    const outcome = await Promise.race([graceful.then(() => "done" as const), deadline]);
    clearTimeout(timer);
    if (outcome === "timeout") {
      log.warn("shutdown timeout reached, closing open connections", {
        pending: server.pendingRequests,
      });
      await server.stop(true);
    }
  };

  /**
   * Binds the router, ask and admin listeners whose address `next` changes.
   * A bind failure stops the ones bound so far and throws. `commit` swaps
   * them in and stops the old ones gracefully.
   */
  const bindListeners = (next: Config) => {
    const fresh: RunningServer[] = [];
    let nextRouter = router;
    let nextAsk = ask;
    let nextAdmin: ReturnType<AdminService["prepare"]>;
    try {
      if (!sameAddress(next.listen, current.listen)) {
        nextRouter = serveRouter(next.listen);
        fresh.push(nextRouter);
      }
      if (!sameAddress(next.ask?.listen, current.ask?.listen)) {
        nextAsk = next.ask ? serveAsk(next.ask.listen) : undefined;
        if (nextAsk) fresh.push(nextAsk);
      }
      nextAdmin = admin.prepare(next);
    } catch (error) {
      for (const server of fresh) void server.stop(true);
      throw error;
    }

    return {
      rollback() {
        for (const server of fresh) void server.stop(true);
        nextAdmin.rollback();
      },
      commit() {
        if (nextRouter !== router) void stopServer(router, next.shutdownTimeoutMs);
        if (ask && nextAsk !== ask) void stopServer(ask, next.shutdownTimeoutMs);
        router = nextRouter;
        ask = nextAsk;
        nextAdmin.commit();
      },
    };
  };

  const relight: Relight = {
    get address() {
      return boundAddress(router);
    },
    get httpsAddress() {
      return https?.address;
    },
    get askAddress() {
      return ask ? boundAddress(ask) : undefined;
    },
    get adminAddress() {
      return admin.address;
    },
    metrics,

    status(): StatusReport {
      const refreshedAt = fleet.refreshedAt;
      return {
        slicer: {
          reachable: slicerReachable,
          lastAnswerAt: slicerAnsweredAt === null ? null : new Date(slicerAnsweredAt).toISOString(),
        },
        index: {
          refreshedAt: refreshedAt === null ? null : new Date(refreshedAt).toISOString(),
          ageMs: refreshedAt === null ? null : clock.now() - refreshedAt,
        },
        vms: fleet.snapshot(),
      };
    },

    refresh: () => fleet.refresh(),
    watchIdle: () => fleet.watchIdle(),

    async reload(next: Config): Promise<void> {
      const trustedProxies = parseTrustedProxies(next.trustedProxies);

      // Every changed listener is bound before any is swapped in, so a
      // failed bind rejects the whole reload with the old listeners serving.
      const listeners = bindListeners(next);
      try {
        // Before the swap, because an unusable certificate file rejects the
        // reload before anything else has changed.
        if (next.tls && https) {
          await https.apply(next.tls);
        } else if (next.tls) {
          https = await startHttps(next.tls);
        } else if (https) {
          const old = https;
          https = undefined;
          void old.stop(next.shutdownTimeoutMs);
        }
      } catch (error) {
        listeners.rollback();
        throw error;
      }
      listeners.commit();

      sites = next.sites;
      proxyOptions = {
        ...proxyOptions,
        trustedProxies,
        responseTimeoutMs: next.responseTimeoutMs,
      };
      fleet.reconfigure({
        slicer: createSlicer(next),
        sites,
        watchIntervalMs: next.watchIntervalMs,
        refreshIntervalMs: next.refreshIntervalMs,
      });
      current = next;
      if (options.logging) {
        logging = configureLogging(next.log, { ...options.logging, secrets: secretsOf(next) });
      }
      // The caller logs "config reloaded" once the whole reload succeeded.
      log.debug("config applied", { file: next.file });

      // New sites or a new slicerd may change which VMs exist; look now.
      await fleet.refresh().catch((error: unknown) => {
        log.warn("index refresh after reload failed", { error: String(error) });
      });
    },

    reloadFromFile: reloadFile,

    async shutdown(): Promise<void> {
      serving = false;
      fleet.close();
      const servers = ask ? [router, ask] : [router];
      const stopped = Promise.all([
        ...servers.map((server) => stopServer(server, current.shutdownTimeoutMs)),
        https?.stop(current.shutdownTimeoutMs),
      ]);
      // Plain requests get the shutdown timeout, but WebSockets may stay
      // open for hours, so they are closed with 1001 now.
      if (webSockets.size > 0) log.info("closing websockets", { count: webSockets.size });
      webSockets.closeAll(goingAway, "server shutting down");
      await stopped;
      await admin.stop();
      log.info("relight stopped");
      logging?.close();
    },
  };
  return relight;
}

/** Secret values that no log line may contain. */
function secretsOf(config: Config): (string | undefined)[] {
  return [config.slicer.token, config.admin?.token];
}

/** Returns slicerd's URL for the log, without any user name or password in it. */
function describeSlicerUrl(url: string): string {
  if (!/^https?:/.test(url)) return url;
  try {
    const parsed = new URL(url);
    parsed.username = "";
    parsed.password = "";
    return parsed.toString();
  } catch {
    return "(invalid URL)";
  }
}
