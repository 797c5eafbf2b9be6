/** Relight's configuration: loading relight.yaml into a `Config`, and printing it back. */
export type * from "./types.ts";
export { ConfigError } from "./errors.ts";
export { defaultConfig, loadConfig } from "./load.ts";
export { IMPLICIT_SITE_PATTERN, parseConfig, type ParseOptions } from "./parse.ts";
export { readTokenFile } from "./token.ts";
export { formatEffectiveConfig, REDACTED } from "./format.ts";
export { formatDuration, parseDuration } from "./duration.ts";
export { formatListenAddress, isLoopback } from "./values.ts";
