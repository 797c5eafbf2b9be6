/**
 * Open-loop HTTP client: sends GET requests at a fixed rate for a fixed time
 * and prints one JSON line with the rate achieved and latency percentiles.
 * Each request's latency counts from its scheduled send time, not from when
 * it was actually sent, so a server that stalls is charged for the requests
 * waiting behind it.
 *
 *   bun scripts/bench/open-loop.ts URL HOST RATE SECONDS
 */
import { percentile } from "./load.ts";

const [url, host, rateText, secondsText] = process.argv.slice(2);
const rate = Number(rateText);
const seconds = Number(secondsText);
if (!url || !host || !(rate > 0) || !(seconds > 0)) {
  throw new Error("usage: open-loop.ts URL HOST RATE SECONDS (RATE in requests/s, SECONDS > 0)");
}

/** Time allowed for requests still in flight when sending stops, in ms. */
const drainTimeoutMs = 10_000;

const latencies: number[] = [];
let errors = 0;
let inFlight = 0;
let issued = 0;
const total = Math.round(rate * seconds);
const intervalMs = 1000 / rate;
const start = performance.now();

async function send(scheduledAt: number): Promise<void> {
  inFlight++;
  try {
    const response = await fetch(url!, { headers: { host: host! } });
    await response.arrayBuffer();
    if (response.status >= 400) errors++;
    else latencies.push(performance.now() - scheduledAt);
  } catch {
    errors++;
  } finally {
    inFlight--;
  }
}

// A timer tick every millisecond sends every request whose scheduled time
// has passed, each stamped with that scheduled time.
await new Promise<void>((resolve) => {
  const tick = () => {
    const now = performance.now();
    while (issued < total && start + issued * intervalMs <= now) {
      void send(start + issued * intervalMs);
      issued++;
    }
    if (issued >= total) resolve();
    else setTimeout(tick, 1);
  };
  tick();
});

const sendingEnded = performance.now();
while (inFlight > 0 && performance.now() - sendingEnded < drainTimeoutMs) {
  await new Promise((resolve) => setTimeout(resolve, 5));
}
errors += inFlight;

const elapsedSeconds = (performance.now() - start) / 1000;
latencies.sort((a, b) => a - b);
process.stdout.write(
  JSON.stringify({
    requestsPerSecond: latencies.length / elapsedSeconds,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    errors,
    requests: latencies.length,
  }) + "\n",
);
process.exit(0);
