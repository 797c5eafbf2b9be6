/**
 * `relight [--config FILE]`: runs the router until SIGTERM or SIGINT, and
 * reloads the config file on SIGHUP.
 */
import process from "node:process";
import { installSignalHandlers } from "../admin/lifecycle.ts";
import { ConfigError, loadLocatedConfig, type LocatedConfig } from "../config/index.ts";
import { startRelight } from "../relight.ts";
import { CertificateError } from "../tls/index.ts";
import { withPosition } from "./check.ts";
import { takeHangup } from "./hangup.ts";
import { type CommandOutput, ExitCode } from "./io.ts";

/**
 * Starts Relight and resolves with the exit code once it has shut down: 0
 * after a graceful shutdown, 2 for an invalid config or an unusable or
 * expired certificate file, 1 when it cannot start otherwise. A repeated
 * SIGTERM or SIGINT within 1 s of the first is ignored, and a later one
 * during shutdown exits the process at once with code 1.
 */
export async function runCommand(
  configPath: string,
  output: CommandOutput,
  env: Record<string, string | undefined>,
): Promise<number> {
  // A SIGHUP before the config is read needs no reload.
  takeHangup();
  let located: LocatedConfig;
  try {
    located = await loadLocatedConfig(configPath, env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    for (const message of error.messages) output.err(message);
    return ExitCode.usage;
  }

  // The handlers go in before the start finishes, because "relight started"
  // is logged before startRelight resolves and SIGHUP's default action ends
  // the process. A signal during the start waits for it.
  const starting = startRelight(located.config, { logging: {} });
  const started = () => starting.catch(() => undefined);
  let resolveExit: (code: number) => void = () => {};
  const exit = new Promise<number>((resolve) => {
    resolveExit = resolve;
  });

  const removeHandlers = installSignalHandlers({
    // SIGHUP shares the reload path of `POST /reload`: one reload at a
    // time, and an invalid file is logged while the running config stays.
    reload: async () => {
      await (await started())?.reloadFromFile();
    },
    shutdown: async () => {
      const relight = await started();
      // A failed start is reported below, and that path returns the exit code.
      if (relight === undefined) return;

      await relight.shutdown();
      removeHandlers();
      resolveExit(ExitCode.ok);
    },
    forceExit: () => process.exit(ExitCode.failure),
  }, { pendingHangup: takeHangup() });

  try {
    await starting;
  } catch (error) {
    removeHandlers();
    // The message is the one `relight check` prints for the same file.
    if (error instanceof CertificateError) {
      output.err(withPosition(error.message, located, configPath));
      return ExitCode.usage;
    }
    output.err(`relight: failed to start: ${error instanceof Error ? error.message : error}`);
    return ExitCode.failure;
  }
  return await exit;
}
