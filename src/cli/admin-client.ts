/** Requests from `relight status` and `relight reload` to a running Relight's admin server. */
import type { Config } from "../config/index.ts";

/** Thrown when the admin server cannot be used. The message states why and what to do. */
export class AdminClientError extends Error {
  override name = "AdminClientError";
}

/** Time allowed for one admin request, in ms. */
export const ADMIN_REQUEST_TIMEOUT_MS = 10_000;

/** Returns the admin server's base URL, connecting to loopback when it listens on every interface. */
export function adminBaseUrl(config: Config): string {
  const admin = config.admin;
  if (admin === undefined) {
    throw new AdminClientError(
      `admin is not configured in ${config.file} (add admin.listen, e.g. 127.0.0.1:9090, and restart Relight)`,
    );
  }

  let host = admin.listen.hostname;
  if (host === "0.0.0.0") host = "127.0.0.1";
  if (host === "::") host = "::1";
  if (host.includes(":")) host = `[${host}]`;
  return `http://${host}:${admin.listen.port}`;
}

/**
 * Sends one request to the admin server named by `config`, with the bearer
 * token when one is configured. Network failures, 401 and 403 become an
 * `AdminClientError`, and the caller handles every other status.
 */
export async function adminRequest(
  config: Config,
  method: "GET" | "POST",
  path: string,
): Promise<Response> {
  const url = `${adminBaseUrl(config)}${path}`;
  const headers = new Headers({ accept: "application/json" });
  const token = config.admin?.token;
  if (token !== undefined) headers.set("authorization", `Bearer ${token}`);

  let response: Response;
  try {
    response = await fetch(url, {
      method,
      headers,
      redirect: "manual",
      signal: AbortSignal.timeout(ADMIN_REQUEST_TIMEOUT_MS),
    });
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    const reason = error instanceof Error && error.name === "TimeoutError"
      ? `timed out after ${ADMIN_REQUEST_TIMEOUT_MS / 1000}s`
      : code === "ECONNREFUSED" || code === "ConnectionRefused"
      ? "connection refused"
      : error instanceof Error
      ? error.message
      : String(error);
    throw new AdminClientError(
      `could not reach the admin server at ${url} (${reason}). Is Relight running with ${config.file}?`,
    );
  }

  if (response.status === 401 || response.status === 403) {
    await response.body?.cancel();
    throw new AdminClientError(
      `the admin server at ${url} rejected the request with ${response.status} (check admin.token in ${config.file})`,
    );
  }
  return response;
}

/**
 * Reads the problems from a JSON error body (`{"error": "..."}` or
 * `{"errors": ["..."]}`), or describes the status when the body has neither.
 */
export async function errorsFromResponse(response: Response): Promise<string[]> {
  const text = await response.text();
  try {
    const body: unknown = JSON.parse(text);
    if (typeof body === "object" && body !== null) {
      if ("errors" in body && Array.isArray(body.errors) && body.errors.length > 0) {
        return body.errors.map(String);
      }
      if ("error" in body) return [String(body.error)];
    }
  } catch {
    // Not JSON, so the status line and the start of the body describe it.
  }
  return [`HTTP ${response.status}${text === "" ? "" : `: ${text.slice(0, 200)}`}`];
}
