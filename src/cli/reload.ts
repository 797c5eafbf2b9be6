/** `relight reload`: makes a running Relight re-read its config file through `POST /reload`. */
import { loadConfig } from "../config/index.ts";
import { adminRequest, errorsFromResponse } from "./admin-client.ts";
import { type CommandOutput, ExitCode } from "./io.ts";
import { reportCommandError } from "./status.ts";

/**
 * Runs `relight reload`. The local file is loaded only for the admin
 * address and token. The running instance then re-reads its own file, and
 * when that file is invalid it keeps the old config.
 */
export async function reloadCommand(
  configPath: string,
  output: CommandOutput,
  env: Record<string, string | undefined>,
): Promise<number> {
  try {
    const config = await loadConfig(configPath, env);
    const response = await adminRequest(config, "POST", "/reload");

    if (!response.ok) {
      const errors = await errorsFromResponse(response);
      for (const error of errors) output.err(`relight reload: ${error}`);
      output.err("relight reload: rejected, so the running config stays in effect");
      return ExitCode.failure;
    }

    await response.body?.cancel();
    output.out("relight reload: config reloaded");
    return ExitCode.ok;
  } catch (error) {
    return reportCommandError("reload", error, output);
  }
}
