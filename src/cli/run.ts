/**
 * `relight [--config FILE]`: runs the router until SIGTERM or SIGINT, and
 * reloads the config file on SIGHUP.
 */
import process from "node:process";
import { installSignalHandlers } from "../admin/lifecycle.ts";
import { type Config, ConfigError, loadConfig } from "../config/index.ts";
import { startRelight } from "../relight.ts";
import { type CommandOutput, ExitCode } from "./io.ts";

/**
 * Starts Relight and resolves with the exit code once it has shut down: 0
 * after a graceful shutdown, 2 for an invalid config, 1 when it cannot
 * start. A second SIGTERM or SIGINT during shutdown exits the process at once
 * with code 1.
 */
export async function runCommand(
  configPath: string,
  output: CommandOutput,
  env: Record<string, string | undefined>,
): Promise<number> {
  let config: Config;
  try {
    config = await loadConfig(configPath, env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    for (const message of error.messages) output.err(message);
    return ExitCode.usage;
  }

  // The handlers go in before the start finishes, because "relight started"
  // is logged before startRelight resolves and SIGHUP's default action ends
  // the process. A signal during the start waits for it.
  const starting = startRelight(config, { logging: {} });
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
  });

  try {
    await starting;
  } catch (error) {
    removeHandlers();
    output.err(`relight: failed to start: ${error instanceof Error ? error.message : error}`);
    return ExitCode.failure;
  }
  return await exit;
}
