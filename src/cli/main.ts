/** The `relight` command: parses the arguments and runs one command. */
import process from "node:process";
import { parseCommandLine, UsageError } from "./args.ts";
import { checkCommand } from "./check.ts";
import { HELP } from "./help.ts";
import { type CommandOutput, ExitCode, processOutput } from "./io.ts";
import { reloadCommand } from "./reload.ts";
import { runCommand } from "./run.ts";
import { statusCommand } from "./status.ts";
import { VERSION } from "./version.ts";

/** Runs `relight` with the arguments after the program name and resolves with the exit code. */
export async function main(
  args: readonly string[],
  output: CommandOutput = processOutput,
  env: Record<string, string | undefined> = process.env,
): Promise<number> {
  let commandLine;
  try {
    commandLine = parseCommandLine(args);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    output.err(`relight: ${error.message}`);
    return ExitCode.usage;
  }

  switch (commandLine.kind) {
    case "help":
      output.out(HELP);
      return ExitCode.ok;
    case "version":
      output.out(`relight ${VERSION}`);
      return ExitCode.ok;
  }

  const { command, configPath, json } = commandLine;
  switch (command) {
    case "run":
      return await runCommand(configPath, output, env);
    case "check":
      return await checkCommand(configPath, output, env);
    case "status":
      return await statusCommand(configPath, json, output, env);
    case "reload":
      return await reloadCommand(configPath, output, env);
  }
}
