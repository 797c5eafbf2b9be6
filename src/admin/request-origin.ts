/**
 * Host and Origin checks that keep a web page in a browser on the same
 * machine from driving the admin API: by DNS rebinding (a name the attacker
 * controls that resolves to 127.0.0.1) or by a cross-site POST (CSRF).
 */
import { isLoopback } from "../config/values.ts";
import { InvalidHostError, normalizeHost } from "../routing/host.ts";

/**
 * Returns why `host` (the Host header) is not allowed without an admin token,
 * or undefined when it is `localhost`, an address in 127.0.0.0/8 or `[::1]`,
 * with any port. A page rebound to 127.0.0.1 sends its own name as Host, so
 * this rejects it. The admin listener without a token is always on loopback,
 * because the config requires a token for any other address, so these names
 * cover its listen address.
 */
export function checkLoopbackHost(host: string | undefined): string | undefined {
  let hostname: string;
  try {
    hostname = normalizeHost(host);
  } catch (error) {
    if (!(error instanceof InvalidHostError)) throw error;
    return error.message;
  }

  const bare = hostname.startsWith("[") ? hostname.slice(1, -1) : hostname;
  if (isLoopback(bare)) return undefined;
  return `Host ${JSON.stringify(host)} is not localhost or a loopback address`;
}

/** Methods that only read state, so a cross-site page gains nothing by sending them. */
const safeMethods = new Set(["GET", "HEAD", "OPTIONS"]);

/**
 * Returns why a state-changing request looks cross-site, or undefined when it
 * does not. Current browsers send `Origin` on every cross-origin POST, and
 * `Sec-Fetch-Site` to loopback and HTTPS origins, while the `relight` CLI,
 * curl and other non-browser clients send neither. A page on another port of localhost is
 * "same-site" but not same-origin, so only "same-origin" and "none" (typed
 * by the user) pass.
 */
export function checkCrossOrigin(
  method: string,
  headers: { get(name: string): string | null },
): string | undefined {
  if (safeMethods.has(method)) return undefined;

  const fetchSite = headers.get("sec-fetch-site");
  if (fetchSite !== null && fetchSite !== "same-origin" && fetchSite !== "none") {
    return `Sec-Fetch-Site is ${JSON.stringify(fetchSite)}`;
  }

  const origin = headers.get("origin");
  if (origin === null) return undefined;
  const host = headers.get("host") ?? "";
  if (!sameAuthority(origin, host)) {
    return `Origin ${JSON.stringify(origin)} does not match Host ${JSON.stringify(host)}`;
  }
  return undefined;
}

/** Reports whether `origin` is `http://` plus the authority in `host`, compared after URL normalization. */
function sameAuthority(origin: string, host: string): boolean {
  // `Origin: null` (sandboxed frames, file: pages) fails to parse or match, as it should.
  try {
    const originUrl = new URL(origin);
    const hostUrl = new URL(`http://${host}`);
    return originUrl.protocol === "http:" && originUrl.host === hostUrl.host &&
      hostUrl.pathname === "/" && hostUrl.username === "";
  } catch {
    return false;
  }
}
