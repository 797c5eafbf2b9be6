/**
 * Large bodies: download and upload throughput with curl, and the proxy's
 * peak resident memory while each transfer runs.
 */
import { spawn } from "node:child_process";
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Contestant } from "./contestants.ts";
import { median } from "./load.ts";
import { resetPeakRss, treePeakRss, treeRss } from "./processes.ts";
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

interface Transfer {
  /** Bytes per second, as curl measured it. */
  speed: number;
  /** Peak RSS of the proxy's process tree during the transfer, in bytes. */
  peakRss: number;
}

interface LargeRun {
  download: Transfer;
  upload: Transfer;
}

function runCurl(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn("curl", args, { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    let errors = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (errors += chunk.toString()));
    child.once("error", reject);
    child.once("exit", (code) => {
      if (code === 0) resolve(output);
      else reject(new Error(`curl ${args.join(" ")} failed with exit code ${code}: ${errors}`));
    });
  });
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
  args: string[],
  bytes: number,
  label: string,
): Promise<Transfer> {
  if (contestant.pid !== undefined) resetPeakRss(contestant.pid);
  const output = await runCurl(args);
  const peakRss = contestant.pid === undefined ? Number.NaN : treePeakRss(contestant.pid);

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
  return { speed: speed ?? Number.NaN, peakRss };
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
        const transfer = await measureTransfer(relight, args, bytes, label);
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

export async function measureLargeBodies(
  context: BenchContext,
  bytes: number,
): Promise<SectionReport> {
  const dir = mkdtempSync(join(tmpdir(), "relight-bench-body-"));
  const file = join(dir, "upload.bin");
  writeZeroFile(file, bytes);

  let runs: Map<string, LargeRun[]>;
  let sweep: { download: SizedTransfer[]; upload: SizedTransfer[] } | undefined;
  const relight = context.contestants.find((contestant) => contestant.name === "relight");
  const sweepSizesBytes = [bytes / 10, bytes, bytes * 10].map(Math.round);
  try {
    runs = await inRounds(context, context.contestants, "large bodies", async (contestant) => ({
      download: await measureTransfer(
        contestant,
        downloadArgs(contestant.origin, contestant.host, bytes),
        bytes,
        "download",
      ),
      upload: await measureTransfer(
        contestant,
        uploadArgs(contestant.origin, contestant.host, file),
        bytes,
        "upload",
      ),
    }));
    if (relight?.pid !== undefined) sweep = await sweepSizes(relight, sweepSizesBytes, dir);
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
  const rows = context.contestants.map((c) => [
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
  return {
    title: "Large bodies",
    method: `One ${size} download (GET /bytes) and one ${size} upload (POST /upload) per ` +
      "contestant per round, with curl. Speeds in MiB/s (median over rounds). Peak RSS is the " +
      "largest VmHWM of the proxy's process tree over the rounds, reset through " +
      "/proc/PID/clear_refs before each transfer; for nginx it sums master and worker.",
    table: table(
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
    commands: [
      commandLine(["curl", ...downloadArgs("ORIGIN", "HOST", bytes)]),
      commandLine(["curl", ...uploadArgs("ORIGIN", "HOST", "upload.bin")]),
    ],
    targets,
    notes: sweep ? sweepNotes(sweep) : [],
  };
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
