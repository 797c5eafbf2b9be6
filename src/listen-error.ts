/** Context for a listener that fails to bind: its config key and address. */
import { formatListenAddress } from "./config/values.ts";
import type { ListenAddress } from "./config/types.ts";

/**
 * Error raised when a configured listener fails to bind. The runtime's own
 * error, such as Bun's "Failed to start server. Is port 8080 in use?",
 * names neither the key nor the host, so the message adds both.
 */
export class ListenError extends Error {
  override name = "ListenError";

  constructor(
    /** The config key of the listener, such as `admin.listen`. */
    readonly key: string,
    readonly address: ListenAddress,
    cause: unknown,
  ) {
    const detail = cause instanceof Error ? cause.message : String(cause);
    super(`failed to bind ${key} "${formatListenAddress(address)}": ${detail}`, { cause });
  }
}

/**
 * Returns whether `error` carries an operating-system error code such as
 * `EADDRINUSE` or `EACCES`, as a failed bind does on Bun 1.4.5 and Deno 2.9.6.
 * A certificate that the runtime rejects has no such code (Bun sets
 * `ERR_OSSL_*`, Deno none), so it is not taken for a bind failure.
 */
export function isSystemError(error: unknown): boolean {
  if (typeof error !== "object" || error === null || !("code" in error)) return false;
  return typeof error.code === "string" && /^E[A-Z0-9]+$/.test(error.code);
}

/** Runs `bind` and rethrows its error as a `ListenError` naming `key` and `address`. */
export function bindListener<T>(key: string, address: ListenAddress, bind: () => T): T {
  try {
    return bind();
  } catch (error) {
    throw new ListenError(key, address, error);
  }
}
