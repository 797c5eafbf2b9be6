/**
 * Wake on request: time to first byte for a request to a paused VM minus the
 * simulator's resume delay, and a burst of concurrent requests to a paused
 * VM, with the resume calls counted from the simulator's call log.
 */
import { join } from "node:path";
import type { Contestant } from "./contestants.ts";
import { countCalls, refreshIntervalMs, simControl, type SimHost, wakeHost } from "./fleet.ts";
import { median } from "./load.ts";
import { firstLine, startProcess } from "./processes.ts";
import { formatNumber, type SectionReport, table, type TargetCheck } from "./report.ts";
import type { BenchContext } from "./rounds.ts";

/** Time Relight gets to notice a pause made behind its back: two refreshes. */
const noticeMs = 2 * refreshIntervalMs + 500;
const requestTimeoutMs = 30_000;

interface BurstResult {
  statuses: Record<string, number>;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

/** Pauses the wake VM without Relight's knowledge and waits until Relight's index shows it. */
async function pauseBehindRelight(sim: SimHost, hostname: string): Promise<void> {
  const vm = (await simControl(sim, "GET", `/vms/${hostname}`)) as { status: string };
  if (vm.status !== "Paused") await simControl(sim, "POST", `/vms/${hostname}/pause`);
  await new Promise((resolve) => setTimeout(resolve, noticeMs));
  await simControl(sim, "DELETE", "/calls");
}

async function timeToFirstByte(relight: Contestant): Promise<{ ms: number; status: number }> {
  const start = performance.now();
  const response = await fetch(`${relight.origin}/`, {
    headers: { host: wakeHost },
    signal: AbortSignal.timeout(requestTimeoutMs),
  });
  const ms = performance.now() - start;
  await response.arrayBuffer();
  return { ms, status: response.status };
}

async function runBurst(relight: Contestant, count: number): Promise<BurstResult> {
  const script = join(import.meta.dirname, "burst.ts");
  const args = [script, `${relight.origin}/`, wakeHost, String(count), String(requestTimeoutMs)];
  const started = startProcess("burst client", process.execPath, args, {
    env: { BUN_CONFIG_MAX_HTTP_REQUESTS: String(count + 16) },
  });
  const line = await firstLine(started, requestTimeoutMs + 10_000);
  await started.stop();
  return JSON.parse(line) as BurstResult;
}

export async function measureWake(
  context: BenchContext,
  sim: SimHost,
  relight: Contestant,
  burstSize: number,
): Promise<SectionReport> {
  const wakeVm = sim.vms.find((vm) => vm.tags.includes(wakeHost));
  if (!wakeVm) throw new Error(`the simulator has no VM tagged ${wakeHost}`);
  const rounds = context.settings.rounds;

  const overheads: number[] = [];
  const resumesPerWake: number[] = [];
  const nodeListsPerWake: number[] = [];
  const failedStatuses: number[] = [];
  for (let round = 0; round < rounds; round++) {
    context.log(`wake: round ${round + 1}/${rounds}`);
    await pauseBehindRelight(sim, wakeVm.hostname);
    const { ms, status } = await timeToFirstByte(relight);
    if (status !== 200) failedStatuses.push(status);
    overheads.push(ms - sim.resumeDelayMs);
    const calls = await countCalls(sim);
    resumesPerWake.push(calls.get("resume") ?? 0);
    // Includes any background refresh that fell within the wake.
    nodeListsPerWake.push(calls.get("nodes") ?? 0);
  }

  context.log(`wake: burst of ${burstSize} requests`);
  await pauseBehindRelight(sim, wakeVm.hostname);
  const burst = await runBurst(relight, burstSize);
  const burstCalls = await countCalls(sim);
  const burstResumes = burstCalls.get("resume") ?? 0;
  const answered = burst.statuses["200"] ?? 0;

  const overheadP50 = median(overheads);
  const oneResumeEach = resumesPerWake.every((count) => count === 1) && burstResumes === 1;
  const targets: TargetCheck[] = [
    {
      target: "wake overhead beyond the resume delay < 5 ms at p50",
      measured: `${formatNumber(overheadP50, 1)} ms`,
      met: overheadP50 < 5 && failedStatuses.length === 0,
    },
    {
      target: "exactly one resume call per wake",
      measured: `${resumesPerWake.join(", ")} per single wake; ${burstResumes} for the burst`,
      met: oneResumeEach,
    },
    {
      target: `${burstSize} concurrent requests to a paused VM all answered`,
      measured: `${answered} of ${burstSize} got 200`,
      met: answered === burstSize,
    },
  ];

  const sorted = [...overheads].sort((a, b) => a - b);
  return {
    title: "Wake on request",
    method: `The simulator delays each resume by ${sim.resumeDelayMs} ms. Before each round the ` +
      "VM is paused through the simulator's control API (not through slicerd's API) and " +
      `the harness waits ${noticeMs} ms so that Relight's background refresh ` +
      `(every ${refreshIntervalMs} ms) records it as paused. The overhead is the time to the ` +
      `response headers minus the resume delay. The burst sends ${burstSize} requests at once, ` +
      "each on its own connection, from a separate Bun process.",
    table: table(["measurement", "value"], [
      ["wake overhead p50 (ms)", formatNumber(overheadP50, 1)],
      [
        "wake overhead min / max (ms)",
        `${formatNumber(sorted[0] ?? NaN, 1)} / ${formatNumber(sorted.at(-1) ?? NaN, 1)}`,
      ],
      [
        "single wakes that did not get 200",
        failedStatuses.length === 0 ? "none" : failedStatuses.join(", "),
      ],
      ["resume calls per single wake", resumesPerWake.join(", ")],
      ["GET /nodes calls per single wake", nodeListsPerWake.join(", ")],
      ["burst: responses by status", JSON.stringify(burst.statuses)],
      ["burst: resume calls", burstResumes],
      [
        "burst: p50 / p99 / max latency (ms)",
        `${formatNumber(burst.p50Ms)} / ${formatNumber(burst.p99Ms)} / ${
          formatNumber(burst.maxMs)
        }`,
      ],
      ["burst: all slicerd calls", JSON.stringify(Object.fromEntries(burstCalls))],
    ]),
    commands: [
      `BUN_CONFIG_MAX_HTTP_REQUESTS=${
        burstSize + 16
      } bun scripts/bench/burst.ts ORIGIN/ ${wakeHost} ${burstSize} ${requestTimeoutMs}`,
    ],
    targets,
    notes: [],
  };
}
