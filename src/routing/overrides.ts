/**
 * Per-VM settings from `key=value` tags: `relight.app_port=3000`,
 * `relight.idle_timeout=10m` or `relight.idle_timeout=never`.
 */
import { parseDuration } from "../config/duration.ts";

/** Settings a VM's tags override; absent fields use the site's values. */
export interface VmOverrides {
  appPort?: number;
  /** Idle timeout in ms, or null when the VM is never paused. */
  idleTimeoutMs?: number | null;
}

/** An override tag whose value was rejected. */
export interface OverrideProblem {
  tag: string;
  message: string;
}

/** Same minimum as the config file's `idle_timeout`. */
export const minIdleTimeoutMs = 30_000;

const tagPrefix = "relight.";

/** True for tags that carry settings rather than a routing name. */
export function isSettingTag(tag: string): boolean {
  return tag.toLowerCase().startsWith(tagPrefix);
}

/** Reads the `relight.*` tags of one VM; unknown keys and bad values are reported. */
export function parseOverrides(tags: readonly string[]): {
  overrides: VmOverrides;
  problems: OverrideProblem[];
} {
  const overrides: VmOverrides = {};
  const problems: OverrideProblem[] = [];

  for (const tag of tags) {
    if (!isSettingTag(tag)) continue;
    const equals = tag.indexOf("=");
    const key = (equals === -1 ? tag : tag.slice(0, equals)).slice(tagPrefix.length).toLowerCase();
    const value = equals === -1 ? "" : tag.slice(equals + 1).trim();

    switch (key) {
      case "app_port": {
        const port = /^[0-9]{1,5}$/.test(value) ? Number(value) : NaN;
        if (port >= 1 && port <= 65535) {
          overrides.appPort = port;
        } else {
          problems.push({ tag, message: "app_port must be a port number from 1 to 65535" });
        }
        break;
      }
      case "idle_timeout": {
        if (value.toLowerCase() === "never") {
          overrides.idleTimeoutMs = null;
          break;
        }
        const ms = parseDuration(value);
        if (ms === undefined) {
          problems.push({
            tag,
            message: 'idle_timeout must be a duration such as "10m", or "never"',
          });
        } else if (ms < minIdleTimeoutMs) {
          problems.push({ tag, message: "idle_timeout is below the minimum of 30s" });
        } else {
          overrides.idleTimeoutMs = ms;
        }
        break;
      }
      default:
        problems.push({
          tag,
          message: "unknown setting; use relight.app_port or relight.idle_timeout",
        });
    }
  }

  return { overrides, problems };
}
