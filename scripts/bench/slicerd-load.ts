/**
 * slicerd load: Slicer API calls Relight makes per 10,000 requests to a
 * running VM, and per 10,000 requests with random unknown Host headers.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Contestant } from "./contestants.ts";
import { countCalls, refreshIntervalMs, simControl, type SimHost } from "./fleet.ts";
import { runWrk } from "./load.ts";
import { formatNumber, type SectionReport, table } from "./report.ts";
import type { BenchContext } from "./rounds.ts";

/** wrk script giving every request a Host header that no VM is tagged with. */
const randomHostScript = `math.randomseed(os.time())
request = function()
  local host = "u" .. math.random(1, 1000000000) .. ".unknown.test"
  return wrk.format("GET", "/", { Host = host })
end
`;

interface CallsRun {
  requests: number;
  seconds: number;
  calls: Map<string, number>;
}

async function runCounted(
  sim: SimHost,
  relight: Contestant,
  seconds: number,
  script?: string,
): Promise<CallsRun> {
  await simControl(sim, "DELETE", "/calls");
  const start = performance.now();
  const load = await runWrk({
    url: `${relight.origin}/`,
    host: relight.host,
    connections: 50,
    durationSeconds: seconds,
    ...(script === undefined ? {} : { script }),
  });
  const elapsed = (performance.now() - start) / 1000;
  return { requests: load.requests, seconds: elapsed, calls: await countCalls(sim) };
}

function per10k(count: number, requests: number): string {
  return requests > 0 ? formatNumber((count / requests) * 10_000, 1) : "n/a";
}

function describeRun(label: string, run: CallsRun): (string | number)[] {
  const nodes = run.calls.get("nodes") ?? 0;
  const others = [...run.calls].filter(([endpoint]) => endpoint !== "nodes");
  const otherCount = others.reduce((sum, [, count]) => sum + count, 0);
  const background = Math.floor((run.seconds * 1000) / refreshIntervalMs);
  return [
    label,
    run.requests,
    formatNumber(run.seconds, 1),
    nodes,
    `about ${background}`,
    per10k(Math.max(0, nodes - background), run.requests),
    others.length === 0 ? "none" : others.map(([e, c]) => `${e}: ${c}`).join(", "),
    per10k(otherCount, run.requests),
  ];
}

export async function measureSlicerdLoad(
  context: BenchContext,
  sim: SimHost,
  relight: Contestant,
): Promise<SectionReport> {
  const seconds = context.settings.durationSeconds;
  context.log("slicerd load: running VM");
  const running = await runCounted(sim, relight, seconds);

  context.log("slicerd load: random unknown hosts");
  const dir = mkdtempSync(join(tmpdir(), "relight-bench-wrk-"));
  const script = join(dir, "random-host.lua");
  writeFileSync(script, randomHostScript);
  let unknown: CallsRun;
  try {
    unknown = await runCounted(sim, relight, seconds, script);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  return {
    title: "slicerd load",
    method: `wrk with 50 connections for ${seconds} s against Relight, counting the Slicer ` +
      "API calls in the simulator's call log. Relight refreshes its index in the background " +
      `every ${refreshIntervalMs} ms, so about one GET /nodes per second is expected ` +
      "whatever the traffic. Unknown hosts are random names under .unknown.test, one per request.",
    table: table(
      [
        "traffic",
        "requests",
        "seconds",
        "GET /nodes",
        "background refreshes",
        "extra /nodes per 10k",
        "other calls",
        "other calls per 10k",
      ],
      [describeRun("running VM", running), describeRun("random unknown hosts", unknown)],
    ),
    commands: [
      `wrk -t1 -c50 -d${seconds}s --latency -H 'Host: bench.relight.test' ORIGIN/`,
      `wrk -t1 -c50 -d${seconds}s --latency -s random-host.lua ORIGIN/`,
    ],
    targets: [],
    notes: [],
  };
}
