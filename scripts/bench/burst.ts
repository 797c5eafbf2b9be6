/**
 * Burst client: sends N GET requests at once, each on its own connection, and
 * prints one JSON line with the status counts and latency percentiles.
 *
 *   BUN_CONFIG_MAX_HTTP_REQUESTS=N bun scripts/bench/burst.ts URL HOST N TIMEOUT_MS
 *
 * Bun's fetch keeps at most 256 requests in flight unless
 * BUN_CONFIG_MAX_HTTP_REQUESTS raises the limit, so the caller sets it to N.
 */
import { percentile } from "./load.ts";

const [url, host, countText, timeoutText] = process.argv.slice(2);
const count = Number(countText);
const timeoutMs = Number(timeoutText);
if (!url || !host || !(count > 0) || !(timeoutMs > 0)) {
  throw new Error("usage: burst.ts URL HOST N TIMEOUT_MS (N requests, TIMEOUT_MS per request)");
}

const statuses: Record<string, number> = {};
const latencies: number[] = [];
const start = performance.now();

await Promise.all(Array.from({ length: count }, async () => {
  let status = "error";
  try {
    const response = await fetch(url, {
      headers: { host, connection: "close" },
      signal: AbortSignal.timeout(timeoutMs),
    });
    await response.arrayBuffer();
    status = String(response.status);
    latencies.push(performance.now() - start);
  } catch (error) {
    status = error instanceof Error && error.name === "TimeoutError" ? "timeout" : "error";
  }
  statuses[status] = (statuses[status] ?? 0) + 1;
}));

latencies.sort((a, b) => a - b);
process.stdout.write(
  JSON.stringify({
    statuses,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    maxMs: latencies.at(-1) ?? Number.NaN,
  }) + "\n",
);
process.exit(0);
