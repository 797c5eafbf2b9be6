/** Destination of command output: the process's stdout and stderr, or a capture in tests. */
import process from "node:process";

export interface CommandOutput {
  /** Writes one line of normal output. */
  out(line: string): void;
  /** Writes one line of error output. */
  err(line: string): void;
}

export const processOutput: CommandOutput = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
};

/** Exit codes of the `relight` command. */
export const ExitCode = {
  ok: 0,
  /** A runtime failure, such as a listener that cannot bind or an unreachable admin server. */
  failure: 1,
  /** Bad command-line usage or an invalid config file. */
  usage: 2,
} as const;
