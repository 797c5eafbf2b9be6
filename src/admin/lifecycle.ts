/**
 * Reload and shutdown triggers: reloading the config file with every error
 * logged, and the SIGHUP, SIGTERM and SIGINT handlers of a running Relight.
 */
import { type Config, ConfigError, loadConfig } from "../config/index.ts";
import { getLogger } from "../log.ts";
import { runtime } from "../runtime/index.ts";
import type { ReloadResult } from "./server.ts";

const log = getLogger("lifecycle");

/**
 * Reads and validates `file`, then passes the new config to `apply`. An
 * invalid file or a failed `apply` is logged with every error and leaves the
 * running config in place.
 */
export async function reloadFromFile(
  file: string,
  apply: (config: Config) => Promise<void>,
  load: (file: string) => Promise<Config> = loadConfig,
): Promise<ReloadResult> {
  let config: Config;
  try {
    config = await load(file);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    for (const message of error.messages) log.error("config invalid", { file, error: message });
    log.error("config reload rejected, keeping the running config", { file });
    return { ok: false, errors: [...error.messages] };
  }

  try {
    await apply(config);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    log.error("config reload failed, keeping the running config", { file, error: message });
    return { ok: false, errors: [message] };
  }
  log.info("config reloaded", { file });
  return { ok: true };
}

/**
 * Runs reloads one at a time. A reload requested while one runs starts after
 * it, and requests that arrive meanwhile share that one run, because they
 * would all read the same file.
 */
export function serializeReloads(reload: () => Promise<ReloadResult>): () => Promise<ReloadResult> {
  let running: Promise<ReloadResult> | undefined;
  let queued: Promise<ReloadResult> | undefined;

  const runNext = (): Promise<ReloadResult> => {
    running = reload().finally(() => {
      running = undefined;
    });
    return running;
  };

  return () => {
    if (running === undefined) return runNext();
    queued ??= running.then(runNext, runNext).finally(() => {
      queued = undefined;
    });
    return queued;
  };
}

export interface SignalHandlers {
  reload(): Promise<unknown>;
  /** Starts a graceful shutdown; called once for the first SIGTERM or SIGINT. */
  shutdown(signal: "SIGTERM" | "SIGINT"): Promise<void>;
  /**
   * Ends the process at once; called when another SIGTERM or SIGINT arrives
   * during shutdown, later than the repeat window after the first.
   */
  forceExit(): void;
}

/**
 * Time after the first stop signal during which another one is taken as a
 * copy of it, in ms. The terminal sends Ctrl-C's SIGINT to the whole
 * foreground process group, and a wrapper in that group can forward its own
 * copy, so one Ctrl-C can arrive twice a few ms apart (seen under
 * `deno task start` in a terminal). A person pressing Ctrl-C again to give
 * up waiting takes longer than this.
 */
export const stopSignalRepeatWindowMs = 1000;

export interface SignalOptions {
  /** Default `stopSignalRepeatWindowMs`. */
  repeatWindowMs?: number;
  /** Handles a SIGHUP that came before the handlers were installed, once they are. */
  pendingHangup?: boolean;
}

/**
 * Installs SIGHUP (reload), SIGTERM and SIGINT (graceful shutdown) handlers
 * and returns a function that removes them.
 */
export function installSignalHandlers(
  handlers: SignalHandlers,
  options: SignalOptions = {},
): () => void {
  const repeatWindowMs = options.repeatWindowMs ?? stopSignalRepeatWindowMs;
  // performance.now() is monotonic, so a wall clock step cannot turn a copy
  // of the first signal into a forced exit.
  let firstStopAt: number | undefined;

  const onStop = (signal: "SIGTERM" | "SIGINT") => () => {
    if (firstStopAt !== undefined) {
      const sinceFirstMs = performance.now() - firstStopAt;
      if (sinceFirstMs < repeatWindowMs) {
        log.info("repeated stop signal ignored", {
          signal,
          since_first_ms: Math.round(sinceFirstMs),
        });
        return;
      }
      log.warning("second stop signal, exiting without waiting", { signal });
      handlers.forceExit();
      return;
    }
    firstStopAt = performance.now();
    log.info("shutdown requested", { signal });
    handlers.shutdown(signal).catch((error: unknown) => {
      log.error("shutdown failed", { error: String(error) });
      handlers.forceExit();
    });
  };

  const onHangup = () => {
    if (firstStopAt !== undefined) return;
    log.info("reload requested", { signal: "SIGHUP" });
    handlers.reload().catch((error: unknown) => {
      log.error("config reload failed", { error: String(error) });
    });
  };

  const removers = [
    runtime.onSignal("SIGHUP", onHangup),
    runtime.onSignal("SIGTERM", onStop("SIGTERM")),
    runtime.onSignal("SIGINT", onStop("SIGINT")),
  ];
  if (options.pendingHangup === true) onHangup();
  return () => {
    for (const remove of removers) remove();
  };
}
