/**
 * Client-facing error responses of the router. Bodies are one short
 * sentence, as plain text or as JSON when the client accepts JSON, and never
 * name a VM, an address, slicerd or an internal error.
 */

/** `Retry-After` value sent with a 503, in seconds. */
export const retryAfterSeconds = 5;

const messages: Record<number, string> = {
  400: "Bad Request: the Host header is missing or invalid.",
  404: "Not Found: no app is served at this host.",
  405: "Method Not Allowed",
  499: "Client Closed Request",
  500: "Internal Server Error",
  501: "Not Implemented",
  502: "Bad Gateway: the app could not be started.",
  503: "Service Unavailable: the app is not ready yet, try again shortly.",
};

function prefersJson(request: Request): boolean {
  const accept = request.headers.get("accept") ?? "";
  return /\bapplication\/(?:[a-z0-9.+-]*\+)?json\b/i.test(accept);
}

/** Builds the error response for `status`, with `Retry-After` on a 503. */
export function errorResponse(request: Request, status: number): Response {
  const message = messages[status] ?? "Error";
  const headers = new Headers({ "cache-control": "no-store" });
  if (status === 503) headers.set("retry-after", String(retryAfterSeconds));

  let body: string;
  if (prefersJson(request)) {
    headers.set("content-type", "application/json");
    body = `${JSON.stringify({ error: message, status })}\n`;
  } else {
    headers.set("content-type", "text/plain; charset=utf-8");
    body = `${message}\n`;
  }
  // Set here so that the access log can read the size from the response.
  headers.set("content-length", String(new TextEncoder().encode(body).byteLength));
  return new Response(body, { status, headers });
}
