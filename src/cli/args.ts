/** Command-line parsing for `relight`, with node:util `parseArgs`. */
import { parseArgs } from "node:util";

export type CommandName = "run" | "check" | "status" | "reload";

export type CommandLine =
  | { kind: "help" }
  | { kind: "version" }
  | { kind: "command"; command: CommandName; configPath: string; json: boolean };

/** Thrown for bad usage. The message states what was wrong and what to type instead. */
export class UsageError extends Error {
  override name = "UsageError";
}

export const DEFAULT_CONFIG_PATH = "./relight.yaml";

const COMMANDS: readonly string[] = ["run", "check", "status", "reload"];

/** The options `relight` accepts, in node:util `parseArgs` form. `relight --help` lists each. */
export const OPTIONS = {
  config: { type: "string", short: "c" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
  version: { type: "boolean", short: "v" },
} as const;

/** Parses the arguments after the program name. */
export function parseCommandLine(args: readonly string[]): CommandLine {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...args],
      allowPositionals: true,
      strict: true,
      options: OPTIONS,
    });
  } catch (error) {
    const unknown = findUnknownOption(args);
    if (unknown !== undefined) {
      throw new UsageError(`unknown option ${unknown} (see relight --help)`);
    }
    throw new UsageError(`${(error as Error).message} (run relight --help for usage)`);
  }

  const { values, positionals } = parsed;
  if (values.help) return { kind: "help" };
  if (values.version) return { kind: "version" };

  const [first, ...rest] = positionals;
  if (first === "help") return { kind: "help" };

  const command = first ?? "run";
  if (!COMMANDS.includes(command)) {
    throw new UsageError(
      `unknown command "${command}" (use check, status or reload, or no command to run; see relight --help)`,
    );
  }
  if (rest.length > 0) {
    throw new UsageError(
      `unexpected argument "${rest[0]}" (use --config FILE to name a config file)`,
    );
  }
  if (values.json && command !== "status") {
    throw new UsageError("--json applies only to relight status");
  }
  if (values.config === "") {
    throw new UsageError("--config needs a file path");
  }

  return {
    kind: "command",
    command: command as CommandName,
    configPath: values.config ?? DEFAULT_CONFIG_PATH,
    json: values.json ?? false,
  };
}

/**
 * Returns the first option in `args` that `OPTIONS` lacks, as written (such
 * as `--x` or `-z`). The strict parser's own message for it suggests passing
 * a positional argument after `--`, which no command accepts.
 */
function findUnknownOption(args: readonly string[]): string | undefined {
  const { tokens } = parseArgs({
    args: [...args],
    allowPositionals: true,
    strict: false,
    tokens: true,
    options: OPTIONS,
  });
  const known: readonly string[] = Object.keys(OPTIONS);
  const unknown = tokens.find((token) => token.kind === "option" && !known.includes(token.name));
  return unknown?.kind === "option" ? unknown.rawName : undefined;
}
