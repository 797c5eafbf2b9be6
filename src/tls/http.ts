/**
 * Helpers for the plain HTTP listener and HTTPS responses: ACME HTTP-01
 * challenge responses, the redirect to HTTPS, and HSTS.
 */
import { requestPath, requestTarget } from "../request-target.ts";
import { InvalidHostError, normalizeHost } from "../routing/host.ts";

/** Path prefix of ACME HTTP-01 challenges (RFC 8555 section 8.3). */
export const challengePathPrefix = "/.well-known/acme-challenge/";

/** Key authorizations for pending HTTP-01 challenges, by token. */
export class ChallengeResponder {
  #keyAuthorizations = new Map<string, string>();

  set(token: string, keyAuthorization: string): void {
    this.#keyAuthorizations.set(token, keyAuthorization);
  }

  delete(token: string): void {
    this.#keyAuthorizations.delete(token);
  }

  /**
   * Returns the response to an HTTP-01 challenge request, or undefined when
   * the path is not a challenge path so the caller handles the request.
   * Unknown tokens get 404, so challenge paths never reach an app.
   */
  handle(request: Request): Response | undefined {
    const path = requestPath(request);
    if (!path.startsWith(challengePathPrefix)) return undefined;

    const token = path.slice(challengePathPrefix.length);
    const keyAuthorization = this.#keyAuthorizations.get(token);
    if (keyAuthorization === undefined || request.method !== "GET" && request.method !== "HEAD") {
      return new Response("Not Found\n", {
        status: 404,
        headers: { "content-type": "text/plain; charset=utf-8" },
      });
    }
    return new Response(keyAuthorization, {
      headers: { "content-type": "application/octet-stream" },
    });
  }
}

/**
 * Returns a 308 redirect from plain HTTP to the same URL on HTTPS, or
 * undefined for ACME challenge paths, which must stay on HTTP. `httpsPort`
 * is left out of the location when it is 443. A request without a usable
 * Host header gets 400.
 */
export function redirectToHttps(request: Request, httpsPort: number): Response | undefined {
  const target = requestTarget(request);
  if (target.startsWith(challengePathPrefix)) return undefined;

  // The same Host check as routing, so a Host the router rejects is never
  // sent back to the client inside a redirect.
  let hostname: string;
  try {
    hostname = normalizeHost(request.headers.get("host"));
  } catch (error) {
    if (!(error instanceof InvalidHostError)) throw error;
    return new Response("Bad Request: missing or invalid Host header\n", {
      status: 400,
      headers: { "content-type": "text/plain; charset=utf-8" },
    });
  }

  const authority = httpsPort === 443 ? hostname : `${hostname}:${httpsPort}`;
  return new Response(null, {
    status: 308,
    headers: { location: `https://${authority}${target}` },
  });
}

/**
 * Adds `Strict-Transport-Security` to a response served over HTTPS. Browsers
 * ignore the header on plain HTTP (RFC 6797 section 8.1), so only the HTTPS
 * listener should call this.
 */
export function withHsts(response: Response, maxAgeSeconds: number): Response {
  const value = `max-age=${maxAgeSeconds}`;
  try {
    response.headers.set("strict-transport-security", value);
    return response;
  } catch {
    // Responses from fetch() and Response.redirect() have immutable headers.
    const headers = new Headers(response.headers);
    headers.set("strict-transport-security", value);
    return new Response(response.body, {
      status: response.status,
      statusText: response.statusText,
      headers,
    });
  }
}
