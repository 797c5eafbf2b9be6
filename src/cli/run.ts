/**
 * `relight [--config FILE]`: runs the router until SIGTERM or SIGINT, and
 * reloads the config file on SIGHUP.
 */
import process from "node:process";
import { installSignalHandlers } from "../admin/lifecycle.ts";
import { type Config, ConfigError, loadConfig } from "../config/index.ts";
import { type Relight, startRelight } from "../relight.ts";
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

  let relight: Relight;
  try {
    relight = await startRelight(config, { logging: {} });
  } catch (error) {
    output.err(`relight: failed to start: ${error instanceof Error ? error.message : error}`);
    return ExitCode.failure;
  }

  return await new Promise<number>((resolve) => {
    const removeHandlers = installSignalHandlers({
      // SIGHUP shares the reload path of `POST /reload`: one reload at a
      // time, and an invalid file is logged while the running config stays.
      reload: () => relight.reloadFromFile(),
      shutdown: async () => {
        await relight.shutdown();
        removeHandlers();
        resolve(ExitCode.ok);
      },
      forceExit: () => process.exit(ExitCode.failure),
    });
  });
}
