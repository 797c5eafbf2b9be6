/**
 * The report model and its rendering as BENCHMARKS.md.
 */
import type { MachineFacts } from "./tools.ts";

/** A target from the benchmark's goals, checked against this run's medians. */
export interface TargetCheck {
  target: string;
  measured: string;
  /** Undefined when the run could not measure it. */
  met: boolean | undefined;
}

export interface SectionReport {
  title: string;
  /** Description of the measurement and its method, in a few sentences. */
  method: string;
  /** Markdown table lines: header, separator, rows. */
  table: string[];
  commands: string[];
  targets: TargetCheck[];
  notes: string[];
}

export interface RunSettings {
  quick: boolean;
  rounds: number;
  durationSeconds: number;
  connections: number;
  rate: number;
}

export function table(header: string[], rows: (string | number)[][]): string[] {
  return [
    `| ${header.join(" | ")} |`,
    `| ${header.map(() => "---").join(" | ")} |`,
    ...rows.map((row) => `| ${row.join(" | ")} |`),
  ];
}

export function formatNumber(value: number, digits = 0): string {
  if (!Number.isFinite(value)) return "n/a";
  return value.toLocaleString("en-US", {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

export function formatRatio(value: number): string {
  return Number.isFinite(value) ? `${value.toFixed(2)}x` : "n/a";
}

export function formatMiB(bytes: number): string {
  return Number.isFinite(bytes) ? `${(bytes / 2 ** 20).toFixed(1)} MiB` : "n/a";
}

/** Quotes arguments that contain spaces, for commands shown in the report. */
export function commandLine(args: string[]): string {
  return args.map((arg) => (/[\s"]/.test(arg) ? `'${arg}'` : arg)).join(" ");
}

function targetMark(met: boolean | undefined): string {
  if (met === undefined) return "not measured";
  return met ? "met" : "missed";
}

export function renderReport(
  facts: MachineFacts,
  settings: RunSettings,
  sections: SectionReport[],
  contestantCommands: string[],
  startedAt: Date,
  durationSeconds: number,
  loadAverages: { start: number[]; end: number[] },
): string {
  const formatLoad = (values: number[]) => values.map((value) => value.toFixed(2)).join(", ");
  const lines: string[] = [
    "# Benchmarks",
    "",
    "Written by `npm run bench` (`scripts/bench/run.ts`); every number below comes from the",
    `run that started ${startedAt.toISOString()} and took ${Math.round(durationSeconds)} s.`,
    "Client, proxies and upstream app share one machine and talk over loopback, so each",
    "contestant competes with its load generator for the same cores.",
    settings.quick
      ? "This was a `--quick` run: short and with few rounds, for checking the harness, not for conclusions."
      : "",
    "",
    "## Machine",
    "",
    `- CPU: ${facts.cpu}, ${facts.cores} cores; memory ${facts.memoryGiB} GiB; Linux ${facts.kernel}`,
    `- Load average (1, 5, 15 min) at start: ${formatLoad(loadAverages.start)}; at end: ` +
    `${formatLoad(loadAverages.end)}. Other programs running on the machine lower every ` +
    "contestant's req/s and make the figures vary from round to round.",
    ...Object.entries(facts.versions).map(([name, version]) => `- ${name}: ${version}`),
    "",
    "## Settings",
    "",
    `- ${settings.rounds} rounds; contestants run one after another, in a rotated order each round;`,
    "  tables show the median over rounds.",
    `- Closed loop: wrk, 1 thread, ${settings.connections} keep-alive connections, ` +
    `${settings.durationSeconds} s per run.`,
    `- Open loop: ${settings.rate} requests/s for ${settings.durationSeconds} s per run, latency counted`,
    "  from each request's scheduled send time (`scripts/bench/open-loop.ts`).",
    "",
    "## Contestants",
    "",
    "Every contestant serves the same upstream app process: a simulated VM of the Slicer",
    "simulator running `scripts/bench/upstream-app.ts` on its own loopback address.",
    "",
    "```",
    ...contestantCommands,
    "```",
    "",
    "## Targets",
    "",
    ...table(
      ["target", "measured", "result"],
      sections.flatMap((section) =>
        section.targets.map((check) => [check.target, check.measured, targetMark(check.met)])
      ),
    ),
    "",
  ];

  for (const section of sections) {
    lines.push(`## ${section.title}`, "", section.method, "", ...section.table, "");
    if (section.notes.length > 0) {
      lines.push(...section.notes.map((note) => `- ${note}`), "");
    }
    if (section.commands.length > 0) {
      lines.push("Commands:", "", "```", ...section.commands, "```", "");
    }
  }
  return lines.filter((line, index, all) => !(line === "" && all[index - 1] === "")).join("\n");
}
