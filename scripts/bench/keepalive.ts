/**
 * Small responses over keep-alive: closed-loop throughput and latency at a
 * fixed connection count, then latency at a fixed rate below saturation.
 */
import type { Contestant } from "./contestants.ts";
import { type LoadResult, median, runOpenLoop, runWrk, wrkArgs } from "./load.ts";
import { treeCpuSeconds } from "./processes.ts";
import {
  commandLine,
  formatNumber,
  formatRatio,
  type SectionReport,
  table,
  type TargetCheck,
} from "./report.ts";
import { type BenchContext, inRounds, ratio } from "./rounds.ts";

interface ClosedLoopRun extends LoadResult {
  /** CPU time of the contestant's process tree per request, in microseconds. */
  cpuMicrosPerRequest: number;
}

function medians<T>(results: Map<string, T[]>, pick: (r: T) => number) {
  return new Map([...results].map(([name, runs]) => [name, median(runs.map(pick))]));
}

async function runClosedLoop(
  context: BenchContext,
  contestant: Contestant,
): Promise<ClosedLoopRun> {
  const cpuBefore = treeCpuSeconds(contestant.cpuPid);
  const result = await runWrk({
    url: `${contestant.origin}/`,
    host: contestant.host,
    connections: context.settings.connections,
    durationSeconds: context.settings.durationSeconds,
  });
  const cpuSeconds = treeCpuSeconds(contestant.cpuPid) - cpuBefore;
  return { ...result, cpuMicrosPerRequest: (cpuSeconds * 1e6) / result.requests };
}

export async function measureKeepAlive(context: BenchContext): Promise<SectionReport> {
  const { settings, contestants } = context;

  const closed = await inRounds(
    context,
    contestants,
    "keep-alive wrk",
    (contestant) => runClosedLoop(context, contestant),
  );
  const open = await inRounds(
    context,
    contestants,
    "keep-alive open loop",
    (contestant) =>
      runOpenLoop({
        url: `${contestant.origin}/`,
        host: contestant.host,
        rate: settings.rate,
        durationSeconds: settings.durationSeconds,
      }),
  );

  const throughput = medians(closed, (r) => r.requestsPerSecond);
  const p50 = medians(closed, (r) => r.p50Ms);
  const p99 = medians(closed, (r) => r.p99Ms);
  const cpu = medians(closed, (r) => r.cpuMicrosPerRequest);
  const openP50 = medians(open, (r) => r.p50Ms);
  const openP99 = medians(open, (r) => r.p99Ms);
  const errors = (runs: LoadResult[] | undefined) =>
    (runs ?? []).reduce((sum, run) => sum + run.errors, 0);

  const rows = contestants.map((c) => [
    c.name,
    formatNumber(throughput.get(c.name)!),
    formatNumber(p50.get(c.name)!, 2),
    formatNumber(p99.get(c.name)!, 2),
    errors(closed.get(c.name)),
    formatNumber(cpu.get(c.name)!, 1),
    formatNumber(openP50.get(c.name)!, 2),
    formatNumber(openP99.get(c.name)!, 2),
    errors(open.get(c.name)),
    formatRatio(ratio(throughput, c.name)),
  ]);

  const saturated = contestants
    .filter((c) => !(throughput.get(c.name)! > settings.rate))
    .map((c) => c.name);

  const vsBare = ratio(throughput, "bare-bun");
  const vsCaddy = ratio(throughput, "caddy");
  const p99VsBare = ratio(p99, "bare-bun");
  const targets: TargetCheck[] = [
    {
      target: "keep-alive req/s >= 0.95x bare Bun proxy",
      measured: formatRatio(vsBare),
      met: Number.isFinite(vsBare) ? vsBare >= 0.95 : undefined,
    },
    {
      target: "keep-alive req/s >= 2x Caddy",
      measured: formatRatio(vsCaddy),
      met: Number.isFinite(vsCaddy) ? vsCaddy >= 2 : undefined,
    },
    {
      target: "keep-alive p99 <= 1.2x bare Bun proxy",
      measured: formatRatio(p99VsBare),
      met: Number.isFinite(p99VsBare) ? p99VsBare <= 1.2 : undefined,
    },
  ];

  return {
    title: "Small responses over keep-alive",
    method: `GET / (a 13-byte body). Closed loop: wrk with ${settings.connections} connections ` +
      `for ${settings.durationSeconds} s. Open loop: ${settings.rate} requests/s, latency from ` +
      "the scheduled send time. " +
      "Latencies in ms; errors are summed over rounds. CPU µs/req is the user plus system " +
      "time of the contestant's process tree (from each thread's /proc schedstat) during the wrk run divided " +
      "by the requests served; for `direct` it is the app's. It depends less on what else " +
      "runs on the machine than req/s does. The last column is Relight's req/s divided by " +
      "that contestant's.",
    table: table(
      [
        "contestant",
        "req/s",
        "p50",
        "p99",
        "errors",
        "CPU µs/req",
        `p50 at ${settings.rate}/s`,
        `p99 at ${settings.rate}/s`,
        "errors",
        "relight / this",
      ],
      rows,
    ),
    commands: [
      commandLine([
        "wrk",
        ...wrkArgs({
          url: "ORIGIN/",
          host: contestants[0]?.host ?? "",
          connections: settings.connections,
          durationSeconds: settings.durationSeconds,
        }),
      ]),
      `bun scripts/bench/open-loop.ts ORIGIN/ HOST ${settings.rate} ${settings.durationSeconds}`,
    ],
    targets,
    notes: saturated.length === 0 ? [] : [
      `The open-loop rate was at or above the closed-loop throughput of ${saturated.join(", ")}, ` +
      "so those open-loop latencies include queueing.",
    ],
  };
}
