/** Short client-facing error responses and the status codes of the proxy. */

/** nginx's status for a client that disconnected before the response was ready. */
export const clientClosedRequest = 499;

/** Returns a 502 whose body reveals nothing about the upstream or the failure. */
export function badGateway(): Response {
  return new Response("Bad Gateway\n", {
    status: 502,
    headers: { "content-type": "text/plain; charset=utf-8" },
  });
}

/** Returns a 504 for an upstream that sent no response head in time. */
export function gatewayTimeout(): Response {
  return new Response("Gateway Timeout\n", {
    status: 504,
    headers: { "content-type": "text/plain; charset=utf-8" },
  });
}

export function badRequest(message: string): Response {
  return new Response(`${message}\n`, {
    status: 400,
    headers: { "content-type": "text/plain; charset=utf-8" },
  });
}

/** Returns a placeholder response for a client that disconnected, which no client reads. */
export function clientGoneResponse(): Response {
  return new Response(null, { status: clientClosedRequest });
}

/**
 * Returns true for errors that mean no connection was made: Bun's error codes
 * (`ECONNREFUSED` and the like, `ConnectionRefused` in older versions) and
 * the OS messages in the cause of Deno's fetch error, such as "tcp connect
 * error: Connection refused (os error 111)" on Deno 2.9.6.
 */
export function isConnectFailure(error: unknown): boolean {
  if (!(error instanceof Error)) return false;

  const code = (error as { code?: unknown }).code;
  if (typeof code === "string" && connectErrorCodes.has(code)) return true;

  const text = `${error.message} ${String(error.cause ?? "")}`;
  return /connection refused|no route to host|network is unreachable|host is down/i.test(text);
}

const connectErrorCodes = new Set([
  "ECONNREFUSED",
  "ConnectionRefused",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EHOSTDOWN",
  "EADDRNOTAVAIL",
  "FailedToOpenSocket",
]);
