/**
 * The on-demand TLS ask server. Caddy (and similar servers) call
 * `GET /?domain=NAME` before getting a certificate for NAME; the response is
 * 200 only when NAME routes to a VM under the configured sites, paused VMs
 * included. Unknown names share the router's index and flood guard.
 */
import type { Config } from "./config/types.ts";
import { getLogger } from "./log.ts";
import { resolveHost, type RouterState } from "./app/router.ts";
import { InvalidHostError, normalizeHost } from "./routing/host.ts";
import type { RequestHandler } from "./runtime/index.ts";
import { requestTarget } from "./request-target.ts";

const log = getLogger("ask");

function plain(status: number, text: string): Response {
  return new Response(`${text}\n`, {
    status,
    headers: { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" },
  });
}

/**
 * Returns a warning when `ask` is served with the implicit site (no `sites`),
 * or undefined. The implicit site routes `TAG.<any domain>` to the VM tagged
 * `TAG`, so the ask server then approves names under domains that anyone can
 * point at this host, and Caddy orders a certificate for each of them.
 */
export function implicitSiteAskWarning(config: Config): string | undefined {
  if (config.ask === undefined) return undefined;
  if (!config.sites.some((site) => site.match.kind === "implicit")) return undefined;
  return "ask approves TAG.<any domain> for every VM tag, because no sites are configured, " +
    "so anyone can make an on-demand TLS server order certificates for names they choose. " +
    'List the served names in sites (such as "*.apps.example.com" and "*")';
}

/** Logs the implicit-site warning when it applies, for startup and reload. */
export function logAskWarnings(config: Config): void {
  const warning = implicitSiteAskWarning(config);
  if (warning !== undefined) log.warn("ask server approves any domain", { reason: warning });
}

/** Runs the ask server's part of `relight check`, which reports the implicit-site warning as a note. */
export function checkAskConfig(config: Config): { errors: string[]; notes: string[] } {
  const warning = implicitSiteAskWarning(config);
  return { errors: [], notes: warning === undefined ? [] : [`warning: ${warning}`] };
}

/**
 * Builds the ask server's handler over the router's state. It reads only the
 * `domain` query parameter and ignores the caller's Host header.
 */
export function createAskHandler(state: RouterState): RequestHandler {
  return async (request) => {
    if (request.method !== "GET" && request.method !== "HEAD") {
      return new Response(null, { status: 405, headers: { allow: "GET, HEAD" } });
    }

    // The query is read without `new URL()`, which throws when a malformed
    // Host header made `request.url` unparsable.
    const target = requestTarget(request);
    const queryStart = target.indexOf("?");
    const query = queryStart === -1 ? "" : target.slice(queryStart + 1);
    const domain = new URLSearchParams(query).get("domain");
    if (domain === null || domain === "") return plain(400, "missing domain parameter");

    // The ask protocol sends a bare hostname. `normalizeHost` parses a Host
    // header and would drop a port, so a port or IPv6 literal is rejected here.
    if (domain.includes(":") || domain.startsWith("[")) {
      return plain(400, "invalid domain parameter: expected a hostname without port");
    }

    let hostname: string;
    try {
      hostname = normalizeHost(domain);
    } catch (error) {
      if (!(error instanceof InvalidHostError)) throw error;
      return plain(400, "invalid domain parameter");
    }

    const resolution = await resolveHost(state, hostname);
    if ("vm" in resolution) return plain(200, "ok");

    // Only a 200 allows a certificate, so 503 while slicerd is unreachable
    // still denies it, and shows an operator the cause.
    if (resolution.status === 503) {
      log.warn("ask request failed: index unavailable", { domain: hostname });
      return plain(503, "routing index unavailable");
    }
    return plain(404, "no app for this domain");
  };
}
