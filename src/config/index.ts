/** Relight's configuration: loading relight.yaml into a `Config`, and printing it back. */
export type * from "./types.ts";
export { ConfigError } from "./errors.ts";
export { defaultConfig, loadConfig, loadLocatedConfig } from "./load.ts";
export {
  IMPLICIT_SITE_PATTERN,
  type LocatedConfig,
  parseConfig,
  parseLocatedConfig,
  type ParseOptions,
} from "./parse.ts";
export { type KeyPath } from "./document.ts";
export { readTokenFile } from "./token.ts";
export { formatEffectiveConfig, REDACTED } from "./format.ts";
export { formatDuration, parseDuration } from "./duration.ts";
export { formatListenAddress, isLoopback } from "./values.ts";
