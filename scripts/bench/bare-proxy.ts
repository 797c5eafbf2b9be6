/**
 * The bare Bun proxy: `Bun.serve` plus `fetch`, with no routing, header
 * rules or WebSocket support. It is the ceiling for any router written on
 * Bun, so it calls Bun directly rather than through Relight's runtime
 * adapter. Env: `UPSTREAM` (an origin such as http://127.0.0.1:8080) and
 * `PORT` (default 0). Prints the bound port on its first stdout line.
 */
const upstream = process.env["UPSTREAM"];
if (!upstream) throw new Error("UPSTREAM is missing: set it to the app's origin");

const server = Bun.serve({
  hostname: "127.0.0.1",
  port: Number(process.env["PORT"] ?? 0),
  development: false,
  idleTimeout: 0,
  maxRequestBodySize: 2 ** 40,
  fetch(request) {
    const url = new URL(request.url);
    return fetch(upstream + url.pathname + url.search, {
      method: request.method,
      headers: request.headers,
      body: request.body,
      redirect: "manual",
      decompress: false,
      signal: request.signal,
    });
  },
});

process.stdout.write(`${server.port}\n`);
