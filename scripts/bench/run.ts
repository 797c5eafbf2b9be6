/**
 * The benchmark suite: Relight against a direct connection, nginx, Caddy and
 * a bare Bun proxy (and HAProxy for large bodies), all on loopback, written to
 * BENCHMARKS.md. Every process it starts is stopped when it ends, fails or is
 * interrupted.
 *
 *   npm run bench                 full run (about 10 minutes on 2 cores)
 *   npm run bench -- --quick      short runs, to check the harness
 */
import { readFileSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import {
  type Contestant,
  directContestant,
  startBare,
  startCaddy,
  startHaproxy,
  startNginx,
} from "./contestants.ts";
import { benchVmUpstream, relightConfig, startRelightContestant, startSimHost } from "./fleet.ts";
import { measureKeepAlive } from "./keepalive.ts";
import { measureLargeBodies } from "./large.ts";
import { measureScale } from "./scale.ts";
import { measureSlicerdLoad } from "./slicerd-load.ts";
import { measureStreams } from "./streams.ts";
import { measureWake } from "./wake.ts";
import { killAllNow, stopAll } from "./processes.ts";
import { renderReport, type RunSettings, type SectionReport } from "./report.ts";
import type { BenchContext } from "./rounds.ts";
import { ensureTools, machineFacts } from "./tools.ts";

const sectionNames = ["keepalive", "large", "streams", "wake", "scale", "slicerd"] as const;
type SectionName = (typeof sectionNames)[number];

const usage = `usage: bun scripts/bench/run.ts [options]
  --quick              short runs with few rounds, to check the harness
  --rounds N           rounds per measurement (default 5, quick 2)
  --duration S         seconds per load run (default 5, quick 2)
  --connections N      wrk keep-alive connections (default 50)
  --rate N             open-loop requests per second (default 5000, quick 2000)
  --body-mib N         size of the large download and upload, in MiB (default 100, quick 20)
  --resume-delay MS    the simulator's resume delay, in ms (default 100)
  --burst N            concurrent requests to a paused VM (default 1000)
  --idle-sockets N     idle WebSockets held open through Relight (default 5000, quick 500)
  --only LIST          comma-separated sections to run: ${sectionNames.join(", ")}
  --out FILE           report path (default BENCHMARKS.md at the repository root)`;

function positiveInteger(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isSafeInteger(parsed) || parsed <= 0) {
    throw new Error(`--${name}: "${value}" is not a positive integer`);
  }
  return parsed;
}

function parseOptions() {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      quick: { type: "boolean", default: false },
      rounds: { type: "string" },
      duration: { type: "string" },
      connections: { type: "string" },
      rate: { type: "string" },
      only: { type: "string" },
      "body-mib": { type: "string" },
      "resume-delay": { type: "string" },
      burst: { type: "string" },
      "idle-sockets": { type: "string" },
      out: { type: "string" },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${usage}\n`);
    process.exit(0);
  }

  const quick = values.quick;
  const settings: RunSettings = {
    quick,
    rounds: positiveInteger("rounds", values.rounds, quick ? 2 : 5),
    durationSeconds: positiveInteger("duration", values.duration, quick ? 2 : 5),
    connections: positiveInteger("connections", values.connections, 50),
    rate: positiveInteger("rate", values.rate, quick ? 2000 : 5000),
  };

  const only = values.only?.split(",").map((name) => name.trim()) ?? [...sectionNames];
  for (const name of only) {
    if (!(sectionNames as readonly string[]).includes(name)) {
      throw new Error(`--only: unknown section "${name}" (use ${sectionNames.join(", ")})`);
    }
  }
  const out = values.out ?? join(import.meta.dirname, "..", "..", "BENCHMARKS.md");
  return {
    settings,
    sections: only as SectionName[],
    out,
    bodyBytes: positiveInteger("body-mib", values["body-mib"], quick ? 20 : 100) * 2 ** 20,
    resumeDelayMs: positiveInteger("resume-delay", values["resume-delay"], 100),
    burst: positiveInteger("burst", values.burst, 1000),
    idleSockets: positiveInteger("idle-sockets", values["idle-sockets"], quick ? 500 : 5000),
  };
}

function log(line: string): void {
  process.stderr.write(`[bench] ${line}\n`);
}

async function main(): Promise<void> {
  const options = parseOptions();
  const { settings, sections } = options;
  const startedAt = new Date();
  const loadAtStart = loadavg();
  ensureTools(log);
  const facts = machineFacts();

  log("starting the simulator, Relight and the other proxies");
  const sim = await startSimHost(options.resumeDelayMs);
  const upstream = benchVmUpstream(sim);
  const relight = await startRelightContestant(sim);
  const contestants: Contestant[] = [
    directContestant(upstream),
    await startNginx(upstream),
    await startCaddy(upstream),
    await startBare(upstream),
    relight,
  ];
  const context: BenchContext = { settings, contestants, log };

  const reports: SectionReport[] = [];
  if (sections.includes("keepalive")) reports.push(await measureKeepAlive(context));
  const references: Contestant[] = [];
  if (sections.includes("large")) {
    references.push(await startHaproxy(upstream));
    reports.push(await measureLargeBodies(context, options.bodyBytes, upstream.pid, references));
  }
  if (sections.includes("streams")) reports.push(await measureStreams(context, 100_000, 10));
  if (sections.includes("wake")) {
    reports.push(await measureWake(context, sim, relight, options.burst));
  }
  if (sections.includes("scale")) {
    reports.push(await measureScale(context, sim, relight, options.idleSockets));
  }
  if (sections.includes("slicerd")) reports.push(await measureSlicerdLoad(context, sim, relight));

  const commands = [
    ...[...contestants, ...references].map((c) => `${c.name}: ${c.command}`),
    "",
    "Relight's configuration (relight.yaml):",
    "",
    ...relightConfig("SIM_SOCKET").trimEnd().split("\n"),
  ];
  const elapsed = (Date.now() - startedAt.getTime()) / 1000;
  const report = renderReport(facts, settings, reports, commands, startedAt, elapsed, {
    start: loadAtStart,
    end: loadavg(),
  });
  // The profiling notes are written by hand and kept across runs.
  const analysis = readFileSync(new URL("./analysis.md", import.meta.url), "utf8");
  writeFileSync(
    options.out,
    `${report.trimEnd()}

${analysis}`,
  );
  log(`wrote ${options.out}`);
}

try {
  await main();
} catch (error) {
  log(`failed: ${error instanceof Error ? error.stack ?? error.message : String(error)}`);
  process.exitCode = 1;
} finally {
  await stopAll();
  killAllNow();
}
