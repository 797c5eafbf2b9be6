/**
 * The benchmark suite: Relight against a direct connection, nginx, Caddy and
 * a bare Bun proxy, all on loopback, written to BENCHMARKS.md. Every process
 * it starts is stopped when it ends, fails or is interrupted.
 *
 *   npm run bench                 full run (about 15 minutes)
 *   npm run bench -- --quick      short runs, to check the harness
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import {
  type Contestant,
  directContestant,
  startBare,
  startCaddy,
  startNginx,
  startUpstream,
} from "./contestants.ts";
import { measureKeepAlive } from "./keepalive.ts";
import { killAllNow, stopAll } from "./processes.ts";
import { renderReport, type RunSettings, type SectionReport } from "./report.ts";
import type { BenchContext } from "./rounds.ts";
import { ensureTools, machineFacts } from "./tools.ts";

const sectionNames = ["keepalive"] as const;
type SectionName = (typeof sectionNames)[number];

const usage = `usage: bun scripts/bench/run.ts [options]
  --quick              short runs with few rounds, to check the harness
  --rounds N           rounds per measurement (default 5, quick 2)
  --duration S         seconds per load run (default 10, quick 2)
  --connections N      wrk keep-alive connections (default 50)
  --rate N             open-loop requests per second (default 5000, quick 2000)
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
    durationSeconds: positiveInteger("duration", values.duration, quick ? 2 : 10),
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
  return { settings, sections: only as SectionName[], out };
}

function log(line: string): void {
  process.stderr.write(`[bench] ${line}\n`);
}

async function main(): Promise<void> {
  const { settings, sections, out } = parseOptions();
  const startedAt = new Date();
  ensureTools(log);
  const facts = machineFacts();

  log("starting the upstream app and the proxies");
  const upstream = await startUpstream();
  const contestants: Contestant[] = [
    directContestant(upstream),
    await startNginx(upstream),
    await startCaddy(upstream),
    await startBare(upstream),
  ];
  const context: BenchContext = { settings, contestants, log };

  const reports: SectionReport[] = [];
  if (sections.includes("keepalive")) reports.push(await measureKeepAlive(context));

  const elapsed = (Date.now() - startedAt.getTime()) / 1000;
  writeFileSync(out, renderReport(facts, settings, reports, startedAt, elapsed));
  log(`wrote ${out}`);
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
