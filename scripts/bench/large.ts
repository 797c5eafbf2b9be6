/**
 * Large bodies: download and upload throughput with curl, and the proxy's
 * peak resident memory while each transfer runs.
 */
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import type { Contestant } from "./contestants.ts";
import { median } from "./load.ts";
import { resetPeakRss, treeCpuSeconds, treePeakRss, treeRss } from "./processes.ts";
import {
  commandLine,
  formatMiB,
  formatNumber,
  formatRatio,
  type SectionReport,
  table,
  type TargetCheck,
} from "./report.ts";
import { type BenchContext, inRounds, ratio } from "./rounds.ts";

/** CPU time spent during one transfer, in seconds. */
interface TransferCpu {
  /** The upstream app's process tree. */
  app: number;
  /** The proxy's process tree; 0 for `direct`. */
  proxy: number;
  /** curl. */
  client: number;
}

interface Transfer {
  /** Bytes per second, as curl measured it. */
  speed: number;
  /** Peak RSS of the proxy's process tree during the transfer, in bytes. */
  peakRss: number;
  cpu: TransferCpu;
}

interface LargeRun {
  download: Transfer;
  upload: Transfer;
}

/** Runs curl and returns its standard output and the CPU time it used, in seconds. */
async function runCurl(args: string[]): Promise<{ output: string; cpuSeconds: number }> {
  const child = Bun.spawn(["curl", ...args], { stdout: "pipe", stderr: "pipe" });
  const [output, errors, code] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  if (code !== 0) {
    throw new Error(`curl ${args.join(" ")} failed with exit code ${code}: ${errors}`);
  }
  const usage = child.resourceUsage();
  return { output, cpuSeconds: usage ? Number(usage.cpuTime.total) / 1e6 : Number.NaN };
}

export function downloadArgs(origin: string, host: string, bytes: number): string[] {
  return [
    "-sS",
    "-o",
    "/dev/null",
    "-w",
    "%{http_code} %{size_download} %{speed_download}",
    "-H",
    `Host: ${host}`,
    `${origin}/bytes?n=${bytes}`,
  ];
}

export function uploadArgs(origin: string, host: string, file: string): string[] {
  // An empty `Expect:` stops curl from waiting for `100 Continue` before sending.
  return [
    "-sS",
    "-w",
    // The app's body is the byte count and a newline, so curl's figures form the last line.
    " %{http_code} %{size_upload} %{speed_upload}",
    "-H",
    `Host: ${host}`,
    "-H",
    "Expect:",
    "-H",
    "Content-Type: application/octet-stream",
    "-X",
    "POST",
    "-T",
    file,
    `${origin}/upload`,
  ];
}

async function measureTransfer(
  contestant: Contestant,
  appPid: number,
  args: string[],
  bytes: number,
  label: string,
): Promise<Transfer> {
  const proxyPid = contestant.pid;
  if (proxyPid !== undefined) resetPeakRss(proxyPid);
  const proxyCpu = () => (proxyPid === undefined ? 0 : treeCpuSeconds(proxyPid));
  const appBefore = treeCpuSeconds(appPid);
  const proxyBefore = proxyCpu();
  const { output, cpuSeconds } = await runCurl(args);
  const cpu = {
    app: treeCpuSeconds(appPid) - appBefore,
    proxy: proxyCpu() - proxyBefore,
    client: cpuSeconds,
  };
  const peakRss = proxyPid === undefined ? Number.NaN : treePeakRss(proxyPid);

  const lines = output.trim().split("\n");
  const [status, size, speed] = (lines.at(-1) ?? "").trim().split(" ").map(Number);
  if (status !== 200 || size !== bytes) {
    throw new Error(
      `${label} through ${contestant.name}: expected status 200 and ${bytes} bytes, ` +
        `got status ${status} and ${size} bytes`,
    );
  }
  if (label === "upload" && Number(lines[0]) !== bytes) {
    throw new Error(
      `upload through ${contestant.name}: the app received ${lines[0]} of ${bytes} bytes`,
    );
  }
  return { speed: speed ?? Number.NaN, peakRss, cpu };
}

/** Relight's memory around one transfer of a given size. */
interface SizedTransfer {
  bytes: number;
  /** RSS of Relight's process tree just before the transfer, in bytes. */
  before: number;
  peakRss: number;
}

/**
 * Downloads and uploads bodies of each size in `sizes` through Relight alone,
 * and returns its RSS before and at the peak of each transfer, to show
 * whether memory grows with the body.
 */
async function sweepSizes(
  relight: Contestant,
  appPid: number,
  sizes: number[],
  dir: string,
): Promise<{ download: SizedTransfer[]; upload: SizedTransfer[] }> {
  const download: SizedTransfer[] = [];
  const upload: SizedTransfer[] = [];
  for (const bytes of sizes) {
    const file = join(dir, `sweep-${bytes}.bin`);
    writeZeroFile(file, bytes);
    const transfers = [
      { label: "download", args: downloadArgs(relight.origin, relight.host, bytes), to: download },
      { label: "upload", args: uploadArgs(relight.origin, relight.host, file), to: upload },
    ];
    try {
      for (const { label, args, to } of transfers) {
        const before = treeRss(relight.pid!);
        const transfer = await measureTransfer(relight, appPid, args, bytes, label);
        to.push({ bytes, before, peakRss: transfer.peakRss });
      }
    } finally {
      rmSync(file, { force: true });
    }
  }
  return { download, upload };
}

function writeZeroFile(path: string, bytes: number): void {
  const block = new Uint8Array(2 ** 20);
  const fd = openSync(path, "w");
  try {
    for (let written = 0; written < bytes; written += block.length) {
      writeSync(fd, block, 0, Math.min(block.length, bytes - written));
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * Measures every contestant and then `references`, proxies that are shown in
 * this section alone, with `appPid` the upstream app's process.
 */
export async function measureLargeBodies(
  context: BenchContext,
  bytes: number,
  appPid: number,
  references: Contestant[],
): Promise<SectionReport> {
  const dir = mkdtempSync(join(tmpdir(), "relight-bench-body-"));
  const file = join(dir, "upload.bin");
  writeZeroFile(file, bytes);

  const contestants = [...context.contestants, ...references];
  let runs: Map<string, LargeRun[]>;
  let sweep: { download: SizedTransfer[]; upload: SizedTransfer[] } | undefined;
  const relight = contestants.find((contestant) => contestant.name === "relight");
  const sweepSizesBytes = [bytes / 10, bytes, bytes * 10].map(Math.round);
  try {
    runs = await inRounds(context, contestants, "large bodies", async (contestant) => ({
      download: await measureTransfer(
        contestant,
        appPid,
        downloadArgs(contestant.origin, contestant.host, bytes),
        bytes,
        "download",
      ),
      upload: await measureTransfer(
        contestant,
        appPid,
        uploadArgs(contestant.origin, contestant.host, file),
        bytes,
        "upload",
      ),
    }));
    if (relight?.pid !== undefined) sweep = await sweepSizes(relight, appPid, sweepSizesBytes, dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  const pick = (f: (run: LargeRun) => number) =>
    new Map([...runs].map(([name, list]) => [name, median(list.map(f))]));
  const maxOf = (f: (run: LargeRun) => number) =>
    new Map([...runs].map(([name, list]) => [name, Math.max(...list.map(f))]));
  const download = pick((run) => run.download.speed);
  const upload = pick((run) => run.upload.speed);
  const downloadPeak = maxOf((run) => run.download.peakRss);
  const uploadPeak = maxOf((run) => run.upload.peakRss);

  const mib = (speed: number) => formatNumber(speed / 2 ** 20);
  const rows = contestants.map((c) => [
    c.name,
    mib(download.get(c.name)!),
    formatRatio(ratio(download, c.name)),
    formatMiB(downloadPeak.get(c.name)!),
    mib(upload.get(c.name)!),
    formatRatio(ratio(upload, c.name)),
    formatMiB(uploadPeak.get(c.name)!),
  ]);

  const downloadVsDirect = ratio(download, "direct");
  const uploadVsDirect = ratio(upload, "direct");
  const sweepPeaks = sweep ? [...sweep.download, ...sweep.upload].map((t) => t.peakRss) : [];
  const relightPeak = Math.max(
    downloadPeak.get("relight") ?? NaN,
    uploadPeak.get("relight") ?? NaN,
    ...sweepPeaks,
  );
  const sizeList = sweepSizesBytes.map((size) => formatNumber(size / 2 ** 20)).join(", ");
  const targets: TargetCheck[] = [
    {
      target: "large-body download >= 0.9x direct",
      measured: formatRatio(downloadVsDirect),
      met: Number.isFinite(downloadVsDirect) ? downloadVsDirect >= 0.9 : undefined,
    },
    {
      target: "large-body upload >= 0.9x direct",
      measured: formatRatio(uploadVsDirect),
      met: Number.isFinite(uploadVsDirect) ? uploadVsDirect >= 0.9 : undefined,
    },
    {
      target: "Relight peak RSS during large bodies < 100 MiB",
      measured: sweep
        ? `${formatMiB(relightPeak)} (bodies of ${sizeList} MiB)`
        : formatMiB(relightPeak),
      met: Number.isFinite(relightPeak) ? relightPeak < 100 * 2 ** 20 : undefined,
    },
  ];

  const size = `${formatNumber(bytes / 2 ** 20)} MiB`;
  const referenceNames = references.map((c) => c.name).join(", ");
  return {
    title: "Large bodies",
    method: `One ${size} download (GET /bytes) and one ${size} upload (POST /upload) per ` +
      "contestant per round, with curl. Speeds in MiB/s (median over rounds). Peak RSS is the " +
      "largest VmHWM of the proxy's process tree over the rounds, reset through " +
      "/proc/PID/clear_refs before each transfer; for nginx it sums master and worker." +
      (references.length > 0
        ? ` ${referenceNames} runs in this section alone, as the fastest proxy found here.`
        : ""),
    table: [
      ...table(
        [
          "contestant",
          "download MiB/s",
          "relight / this",
          "peak RSS",
          "upload MiB/s",
          "relight / this",
          "peak RSS",
        ],
        rows,
      ),
      "",
      "CPU time per GiB moved, in seconds (median over rounds): the app's process tree, the " +
      "proxy's, and curl's, from each thread's /proc schedstat and curl's resource usage. " +
      "Cores busy is the sum of the three divided by the transfer's duration; the machine " +
      "has two.",
      "",
      ...table(
        [
          "contestant",
          "download: app",
          "proxy",
          "curl",
          "cores busy",
          "upload: app",
          "proxy",
          "curl",
          "cores busy",
        ],
        contestants.map((c) => [
          c.name,
          ...cpuCells(bytes, runs.get(c.name)!.map((run) => run.download)),
          ...cpuCells(bytes, runs.get(c.name)!.map((run) => run.upload)),
        ]),
      ),
    ],
    commands: [
      commandLine(["curl", ...downloadArgs("ORIGIN", "HOST", bytes)]),
      commandLine(["curl", ...uploadArgs("ORIGIN", "HOST", "upload.bin")]),
    ],
    targets,
    notes: [
      ...["download", "upload"].flatMap((direction) =>
        budgetNote(direction as "download" | "upload", bytes, runs, references)
      ),
      ...(sweep ? sweepNotes(sweep) : []),
    ],
  };
}

/** Fraction of direct speed that the throughput targets ask for. */
const targetRatio = 0.9;

/**
 * Returns a note on the CPU time per GiB that the target leaves a proxy: what
 * the machine's cores have at `targetRatio` of direct speed, minus what the
 * app and curl spent when they talked directly. It assumes that every core is
 * busy all the time, so it is an upper bound.
 */
function budgetNote(
  direction: "download" | "upload",
  bytes: number,
  runs: Map<string, LargeRun[]>,
  references: Contestant[],
): string[] {
  const direct = runs.get("direct")?.map((run) => run[direction]);
  if (!direct || direct.length === 0) return [];
  const gib = bytes / 2 ** 30;
  const speed = median(direct.map((t) => t.speed)) / 2 ** 30;
  const endpoints = median(direct.map((t) => (t.cpu.app + t.cpu.client) / gib));
  const budget = cpus().length / (targetRatio * speed) - endpoints;
  const proxyCpu = (name: string) => {
    const transfers = runs.get(name)?.map((run) => run[direction]) ?? [];
    return median(transfers.map((t) => t.cpu.proxy / gib));
  };
  const used = ["relight", ...references.map((c) => c.name)]
    .filter((name) => runs.has(name))
    .map((name) => `${name} used ${formatNumber(proxyCpu(name), 2)}`)
    .join(", ");
  return [
    `CPU left for a proxy at ${targetRatio}x direct, ${direction}: ${cpus().length} cores ` +
    `moving ${formatNumber((targetRatio * speed * 2 ** 30) / 2 ** 20)} MiB/s have ` +
    `${formatNumber(cpus().length / (targetRatio * speed), 2)} s of CPU per GiB; the app ` +
    `and curl took ${formatNumber(endpoints, 2)} s per GiB direct, which leaves ` +
    `${formatNumber(budget, 2)} s per GiB for the proxy (${used}).`,
  ];
}

/**
 * Table cells for one direction: median CPU seconds per GiB of the app, the
 * proxy and curl, and the median number of cores the three kept busy.
 */
function cpuCells(bytes: number, transfers: Transfer[]): string[] {
  const gib = bytes / 2 ** 30;
  const perGib = (f: (cpu: TransferCpu) => number) =>
    formatNumber(median(transfers.map((t) => f(t.cpu) / gib)), 2);
  const busy = median(
    transfers.map((t) => (t.cpu.app + t.cpu.proxy + t.cpu.client) / (bytes / t.speed)),
  );
  return [
    perGib((cpu) => cpu.app),
    perGib((cpu) => cpu.proxy),
    perGib((cpu) => cpu.client),
    formatNumber(busy, 2),
  ];
}

function sweepNotes(sweep: { download: SizedTransfer[]; upload: SizedTransfer[] }): string[] {
  const describe = (t: SizedTransfer) =>
    `${formatNumber(t.bytes / 2 ** 20)} MiB: ${formatMiB(t.peakRss)} ` +
    `(${formatMiB(t.before)} before)`;
  return [
    "Body sizes, Relight alone after the rounds, one transfer each; peak RSS with the RSS " +
    "just before the transfer in brackets.",
    `Download: ${sweep.download.map(describe).join("; ")}.`,
    `Upload: ${sweep.upload.map(describe).join("; ")}.`,
  ];
}
