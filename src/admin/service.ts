/**
 * The admin listener across reloads: started when `admin` is configured,
 * re-bound when `admin.listen` changes, stopped when `admin` is removed.
 * The token and the health threshold change in place.
 */
import type { Config, ListenAddress } from "../config/types.ts";
import { bindListener } from "../listen-error.ts";
import { getLogger } from "../log.ts";
import type { RunningServer } from "../runtime/index.ts";
import type { RelightMetrics } from "./metrics.ts";
import { type AdminOptions, type AdminRouter, startAdminServer } from "./server.ts";

const log = getLogger("admin");

/**
 * Returns how long slicerd may stay silent, or the VM index go without a
 * successful refresh, before `/healthz` fails, in ms. The limit is three
 * background refresh intervals plus one call timeout, so one slow or failed
 * refresh does not flip the health check. With the defaults (5 s refresh,
 * 10 s timeout) that is 25 s.
 */
export function healthMaxSilenceMs(config: Config): number {
  return 3 * config.refreshIntervalMs + config.slicer.requestTimeoutMs;
}

function sameAddress(a: ListenAddress, b: ListenAddress): boolean {
  return a.hostname === b.hostname && a.port === b.port;
}

export class AdminService {
  readonly #options: AdminOptions;
  #server: RunningServer | undefined;
  #listen: ListenAddress | undefined;

  /** `now` is the clock that slicerd's last response time is compared with. Default `Date.now`. */
  constructor(
    router: AdminRouter,
    metrics: RelightMetrics,
    config: Config,
    now: () => number = Date.now,
  ) {
    this.#options = { router, metrics, healthMaxSilenceMs: healthMaxSilenceMs(config), now };
    this.apply(config);
  }

  /** The bound address, or undefined when no admin listener is configured. */
  get address(): ListenAddress | undefined {
    const server = this.#server;
    return server ? { hostname: server.hostname, port: server.port } : undefined;
  }

  /**
   * Applies the `admin` section of `config`. A changed address is bound
   * before the old listener stops, so a bind failure throws and leaves the
   * old listener and token in place.
   */
  apply(config: Config): void {
    this.prepare(config).commit();
  }

  /**
   * Binds the listener that `config` needs, if its address changed, without
   * swapping it in yet. A bind failure throws with nothing changed. `commit`
   * swaps in the new listener and settings and stops the old listener, and
   * `rollback` stops the new one.
   */
  prepare(config: Config): { commit(): void; rollback(): void } {
    const admin = config.admin;
    const old = this.#server;
    let next = old;
    if (admin === undefined) {
      next = undefined;
    } else if (this.#listen === undefined || !sameAddress(admin.listen, this.#listen)) {
      next = bindListener(
        "admin.listen",
        admin.listen,
        () => startAdminServer(admin.listen, this.#options),
      );
    }

    return {
      commit: () => {
        this.#server = next;
        this.#listen = admin?.listen;
        this.#options.token = admin?.token;
        this.#options.healthMaxSilenceMs = healthMaxSilenceMs(config);
        if (old !== undefined && old !== next) {
          log.info("admin server stopped", { address: `${old.hostname}:${old.port}` });
          void old.stop(false);
        }
      },
      rollback: () => {
        if (next !== undefined && next !== old) void next.stop(true);
      },
    };
  }

  /** Stops the admin listener, closing its open connections. */
  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    this.#listen = undefined;
    await server?.stop(true);
  }
}
