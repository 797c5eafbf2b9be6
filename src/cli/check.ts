/** `relight check`: validates the config file and prints the effective config. */
import {
  type Config,
  ConfigError,
  formatEffectiveConfig,
  type KeyPath,
  loadLocatedConfig,
  type LocatedConfig,
} from "../config/index.ts";
import { checkAskConfig } from "../ask.ts";
import { checkTlsConfig } from "../tls/index.ts";
import { type CommandOutput, ExitCode } from "./io.ts";

/** Findings of one extra check: problems that make the config unusable, and lines to print. */
export interface ConfigCheckResult {
  errors: string[];
  notes: string[];
}

/**
 * A check that needs more than the file itself, such as reading the
 * certificate files it names. Runs only when the file itself is valid.
 */
export type ConfigCheck = (config: Config) => ConfigCheckResult | Promise<ConfigCheckResult>;

function checkTls(config: Config): ConfigCheckResult {
  if (config.tls === undefined) return { errors: [], notes: [] };

  const result = checkTlsConfig(config.tls);
  return { errors: result.errors, notes: result.summary };
}

/** Checks that `relight check` runs after loading; add an entry to check more. */
export const configChecks: ConfigCheck[] = [checkTls, checkAskConfig];

/** Runs `relight check`: exit 0 and the effective config when valid, exit 2 and every error when not. */
export async function checkCommand(
  configPath: string,
  output: CommandOutput,
  env: Record<string, string | undefined>,
): Promise<number> {
  let located: LocatedConfig;
  try {
    located = await loadLocatedConfig(configPath, env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    for (const message of error.messages) output.err(message);
    output.err(`${configPath}: invalid (${countProblems(error.messages.length)})`);
    return ExitCode.usage;
  }

  const config = located.config;
  const errors: string[] = [];
  const notes: string[] = [];
  for (const check of configChecks) {
    const result = await check(config);
    errors.push(...result.errors);
    notes.push(...result.notes);
  }

  if (errors.length > 0) {
    for (const message of errors) output.err(withPosition(message, located, configPath));
    output.err(`${configPath}: invalid (${countProblems(errors.length)})`);
    return ExitCode.usage;
  }

  output.out(formatEffectiveConfig(config).trimEnd());
  for (const note of notes) output.out(`# ${note}`);
  return ExitCode.ok;
}

/**
 * Prefixes a check's message with `file:line:col` when the message starts
 * with a key path such as `tls.certificates[0]: `, and with the file name
 * otherwise.
 */
export function withPosition(message: string, located: LocatedConfig, configPath: string): string {
  const match = /^([a-z_]+(?:\.[a-z_]+|\[\d+\])*): /.exec(message);
  if (match === null) return `${configPath}: ${message}`;

  return `${located.locate(parseKeyPath(match[1] ?? ""))}: ${message}`;
}

/** Parses a key path written as `tls.certificates[0].cert_file`. */
function parseKeyPath(label: string): KeyPath {
  const path: (string | number)[] = [];
  for (const [, key, index] of label.matchAll(/([a-z_]+)|\[(\d+)\]/g)) {
    path.push(key ?? Number(index));
  }
  return path;
}

function countProblems(count: number): string {
  return count === 1 ? "1 problem" : `${count} problems`;
}
