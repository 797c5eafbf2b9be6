/**
 * Wires Relight together: the Slicer client, the VM fleet with its
 * background refresh and idle watcher, the router's listener and the
 * optional ask server. `startRelight` is the one entry point that the CLI,
 * the demo and the tests use.
 */
import { createRouterHandler, type RouterState } from "./app/router.ts";
import { createAskHandler } from "./ask.ts";
import { type Clock, systemClock } from "./clock.ts";
import type { Config, ListenAddress, SiteConfig } from "./config/types.ts";
import { getLogger } from "./log.ts";
import { noopObserver, type Observer } from "./observe.ts";
import { parseTrustedProxies, type ProxyOptions } from "./proxy/index.ts";
import { type RunningServer, runtime } from "./runtime/index.ts";
import { type SlicerCallReport, SlicerClient } from "./slicer/client.ts";
import type { StatusReport } from "./status.ts";
import { Fleet } from "./vm/fleet.ts";

const log = getLogger("relight");

export interface RelightOptions {
  /** Time source for activity, the idle watcher and the refresh. Default: the system clock. */
  clock?: Clock;
  /** Receives metric events. Default: records nothing. */
  observer?: Observer;
  /**
   * Minimum time between index refreshes caused by unknown hosts, in ms.
   * Default 1000.
   */
  unknownHostRefreshIntervalMs?: number;
}

/** A running Relight. */
export interface Relight {
  /** The router listener's bound address (the real port when 0 was configured). */
  readonly address: ListenAddress;
  /** The ask server's bound address, when `ask` is configured. */
  readonly askAddress: ListenAddress | undefined;
  /** The current status: slicerd reachability, index age and every VM. */
  status(): StatusReport;
  /** Refreshes the VM index now; rejects when slicerd fails. */
  refresh(): Promise<void>;
  /** Runs one idle-watcher pass now, as the `watch_interval` timer does. */
  watchIdle(): void;
  /**
   * Applies a new configuration: sites, timings, slicerd settings and
   * trusted proxies at once; listeners are rebound when their address
   * changed. VM state and open connections are kept.
   */
  reload(config: Config): Promise<void>;
  /**
   * Stops the listeners and background work, giving open requests up to
   * `shutdownTimeoutMs` to finish before closing them.
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
  const observer = options.observer ?? noopObserver;

  let current = config;
  let sites: readonly SiteConfig[] = config.sites;
  let proxyOptions: ProxyOptions = {
    trustedProxies: parseTrustedProxies(config.trustedProxies),
    proto: "http",
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

  const state: RouterState = {
    fleet,
    observer,
    sites: () => sites,
    proxyOptions: () => proxyOptions,
  };
  const routerHandler = createRouterHandler(state);
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
    runtime.serve({
      hostname: listen.hostname,
      port: listen.port,
      handler: routerHandler,
      // Streams such as server-sent events may be quiet for long; the
      // proxy's own handling of client disconnects bounds each request.
      idleTimeout: 0,
    });
  const serveAsk = (listen: ListenAddress) =>
    runtime.serve({ hostname: listen.hostname, port: listen.port, handler: askHandler });

  let router: RunningServer;
  let ask: RunningServer | undefined;
  try {
    router = serveRouter(config.listen);
    ask = config.ask ? serveAsk(config.ask.listen) : undefined;
  } catch (error) {
    fleet.stop();
    throw error;
  }
  log.info("relight started", {
    listen: `${router.hostname}:${router.port}`,
    ...(ask ? { ask: `${ask.hostname}:${ask.port}` } : {}),
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

  return {
    get address() {
      return boundAddress(router);
    },
    get askAddress() {
      return ask ? boundAddress(ask) : undefined;
    },

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

      if (!sameAddress(next.listen, current.listen)) {
        const old = router;
        router = serveRouter(next.listen);
        void stopServer(old, next.shutdownTimeoutMs);
      }
      if (!sameAddress(next.ask?.listen, current.ask?.listen)) {
        const old = ask;
        ask = next.ask ? serveAsk(next.ask.listen) : undefined;
        if (old) void stopServer(old, next.shutdownTimeoutMs);
      }

      sites = next.sites;
      proxyOptions = { ...proxyOptions, trustedProxies };
      fleet.reconfigure({
        slicer: createSlicer(next),
        sites,
        watchIntervalMs: next.watchIntervalMs,
        refreshIntervalMs: next.refreshIntervalMs,
      });
      current = next;
      log.info("configuration reloaded", { file: next.file });

      // New sites or a new slicerd may change which VMs exist; look now.
      await fleet.refresh().catch((error: unknown) => {
        log.warn("index refresh after reload failed", { error: String(error) });
      });
    },

    async shutdown(): Promise<void> {
      fleet.stop();
      const servers = ask ? [router, ask] : [router];
      await Promise.all(servers.map((server) => stopServer(server, current.shutdownTimeoutMs)));
      log.info("relight stopped");
    },
  };
}
