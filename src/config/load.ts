/** Loading relight.yaml from disk, and a `Config` with every default for code that builds its own. */
import process from "node:process";
import {
  FileTooLargeError,
  formatLimit,
  NotRegularFileError,
  readTextFile,
} from "../read-limited.ts";
import type { Environment } from "./env.ts";
import { ConfigError } from "./errors.ts";
import { type LocatedConfig, parseConfig, parseLocatedConfig } from "./parse.ts";
import type { Config } from "./types.ts";

/** Largest config file read, in bytes: 1 MiB, far above any real config. */
export const maxConfigBytes = 1024 * 1024;

/**
 * Reads and validates a config file. `path` is taken relative to the working
 * directory, and relative paths inside the file relative to the file's
 * directory. Throws a `ConfigError` listing every problem found.
 */
export async function loadConfig(path: string, env: Environment = process.env): Promise<Config> {
  return (await loadLocatedConfig(path, env)).config;
}

/** Reads and validates a config file as `loadConfig` does, keeping the position of each key. */
export async function loadLocatedConfig(
  path: string,
  env: Environment = process.env,
): Promise<LocatedConfig> {
  let text: string;
  try {
    text = await readTextFile(path, maxConfigBytes);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = error instanceof FileTooLargeError
      ? `config file is larger than ${
        formatLimit(maxConfigBytes)
      } (check that it is the right file)`
      : error instanceof NotRegularFileError
      ? "is not a regular file (a FIFO, socket or device cannot be a config file)"
      : code === "ENOENT"
      ? "config file not found (pass --config FILE to use another file)"
      : code === "EISDIR"
      ? "is a directory, not a config file"
      : `config file could not be read (${String(error)})`;
    throw new ConfigError([`${path}: ${reason}`]);
  }
  return parseLocatedConfig(text, { file: path, env });
}

/**
 * Returns the `Config` that a file setting only `slicer.url` would give, with
 * `slicer` being a unix socket path or an http(s) URL. Tests spread it and
 * override fields directly, which is how they get intervals shorter than a
 * file may set.
 */
export function defaultConfig(slicer: string): Config {
  const text = `slicer:\n  url: ${JSON.stringify(slicer.replaceAll("${", () => "$${"))}\n`;
  return parseConfig(text, { file: "<defaults>", env: {}, baseDir: process.cwd() });
}
