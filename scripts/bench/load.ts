/**
 * Load generators: wrk for closed-loop throughput at a fixed connection
 * count, and the open-loop client in `open-loop.ts` for latency at a fixed
 * request rate.
 */
import { join } from "node:path";
import { firstLine, startProcess } from "./processes.ts";

export interface LoadResult {
  requestsPerSecond: number;
  /** Latency percentiles, in ms. */
  p50Ms: number;
  p99Ms: number;
  /** Requests that failed or got a status other than 2xx/3xx. */
  errors: number;
  requests: number;
}

const unitMs: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 };

function parseDuration(value: string, unit: string): number {
  const factor = unitMs[unit];
  if (factor === undefined) throw new Error(`wrk output has an unknown time unit: "${unit}"`);
  return Number(value) * factor;
}

/** Parses the output of `wrk --latency`. */
export function parseWrk(output: string): LoadResult {
  const percentile = (p: number): number => {
    const match = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, "m").exec(output);
    if (!match) throw new Error(`wrk output has no ${p}% latency line: ${output}`);
    return parseDuration(match[1]!, match[2]!);
  };
  const rate = /^Requests\/sec:\s+([\d.]+)/m.exec(output);
  const total = /^\s+(\d+) requests in/m.exec(output);
  if (!rate || !total) throw new Error(`wrk output has no request totals: ${output}`);

  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(output);
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/
    .exec(output);
  const errors = Number(non2xx?.[1] ?? 0) +
    (socketErrors ? socketErrors.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0);

  return {
    requestsPerSecond: Number(rate[1]),
    p50Ms: percentile(50),
    p99Ms: percentile(99),
    errors,
    requests: Number(total[1]),
  };
}

export interface WrkOptions {
  url: string;
  host: string;
  connections: number;
  durationSeconds: number;
  threads?: number;
  /** Lua script that builds each request. */
  script?: string;
}

export function wrkArgs(options: WrkOptions): string[] {
  return [
    `-t${options.threads ?? 1}`,
    `-c${options.connections}`,
    `-d${options.durationSeconds}s`,
    "--latency",
    ...(options.script === undefined ? [] : ["-s", options.script]),
    "-H",
    `Host: ${options.host}`,
    options.url,
  ];
}

/** Runs wrk once and returns its parsed result. */
export async function runWrk(options: WrkOptions): Promise<LoadResult> {
  const started = startProcess("wrk", "wrk", wrkArgs(options));
  const exitCode = await new Promise<number | null>((resolve) => {
    started.child.once("exit", (code) => resolve(code));
  });
  const output = started.outputTail();
  if (exitCode !== 0) throw new Error(`wrk exited with code ${exitCode}: ${output}`);
  return parseWrk(output);
}

export interface OpenLoopOptions {
  url: string;
  host: string;
  /** Requests per second, sent on schedule whether or not earlier ones finished. */
  rate: number;
  durationSeconds: number;
}

/**
 * Runs the open-loop client in its own process. Latency is measured from
 * each request's scheduled send time, so a stalled server is charged for the
 * requests queued behind it (no coordinated omission).
 */
export async function runOpenLoop(options: OpenLoopOptions): Promise<LoadResult> {
  const args = [
    join(import.meta.dirname, "open-loop.ts"),
    options.url,
    options.host,
    String(options.rate),
    String(options.durationSeconds),
  ];
  const started = startProcess("open-loop client", process.execPath, args);
  const line = await firstLine(started, (options.durationSeconds + 30) * 1000);
  await started.stop();
  return JSON.parse(line) as LoadResult;
}

/** Returns the value at percentile `p` (0-100) of ascending `sorted`. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)]!;
}

export function median(values: number[]): number {
  const finite = values.filter((value) => Number.isFinite(value)).sort((a, b) => a - b);
  if (finite.length === 0) return Number.NaN;
  const middle = Math.floor(finite.length / 2);
  return finite.length % 2 === 1 ? finite[middle]! : (finite[middle - 1]! + finite[middle]!) / 2;
}
