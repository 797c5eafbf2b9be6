/**
 * The path and query of an incoming request, read without `new URL()`.
 *
 * Bun and Deno build `request.url` from the client's Host header, so a
 * malformed Host gives a URL that does not parse: Deno 2.9 returns
 * `http://my app/p` for `Host: my app`, and Bun 1.4 returns the bare `/p`.
 * `new URL(request.url)` throws on both, so code that runs before the Host
 * is validated, or for every request, takes the path from here instead.
 */

/**
 * Returns the request's path and query (the origin-form request-target of
 * RFC 9112 section 3.2.1), always starting with "/". It never throws.
 */
export function requestTarget(request: Request): string {
  const url = request.url;
  if (url.startsWith("/")) return url;

  const schemeEnd = url.indexOf("://");
  if (schemeEnd === -1) return "/";
  const authorityStart = schemeEnd + 3;

  // A Host such as `myapp/../victim` puts a "/" inside the authority, so skip
  // the Host header's own text when the runtime copied it into the URL.
  const host = request.headers.get("host");
  let rest: string;
  if (host !== null && host !== "" && url.startsWith(host, authorityStart)) {
    rest = url.slice(authorityStart + host.length);
  } else {
    const pathStart = url.indexOf("/", authorityStart);
    rest = pathStart === -1 ? "" : url.slice(pathStart);
  }
  return rest.startsWith("/") ? rest : `/${rest}`;
}

/** Returns the request's path without the query string. It never throws. */
export function requestPath(request: Request): string {
  const target = requestTarget(request);
  const queryStart = target.indexOf("?");
  return queryStart === -1 ? target : target.slice(0, queryStart);
}
