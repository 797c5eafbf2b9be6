/**
 * Scale: routing throughput with a 10,000-VM index against a 10-VM index,
 * memory per index entry, and Relight's memory with thousands of open idle
 * WebSockets.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runtime } from "../../src/runtime/index.ts";
import { benchHost, type Contestant } from "./contestants.ts";
import { relightConfig, type SimHost } from "./fleet.ts";
import { median, runWrk } from "./load.ts";
import { firstLine, startProcess, treeRss } from "./processes.ts";
import {
  formatMiB,
  formatNumber,
  formatRatio,
  type SectionReport,
  table,
  type TargetCheck,
} from "./report.ts";
import { type BenchContext, inRounds } from "./rounds.ts";

const smallIndex = 10;
const largeIndex = 10_000;
/** WebSockets opened per batch, so the listen backlog is not overrun. */
const socketBatch = 250;
/** Index refresh interval of the two scale processes: Relight's default. */
const scaleRefreshMs = 5000;

async function startIndexedRelight(
  name: string,
  dir: string,
  vmCount: number,
  benchIp: string,
): Promise<Contestant> {
  const socket = join(dir, `${name}.sock`);
  const nodes = startProcess(`nodes server (${vmCount})`, process.execPath, [
    join(import.meta.dirname, "nodes-server.ts"),
  ], { env: { SOCKET: socket, COUNT: String(vmCount), BENCH_TAG: benchHost, BENCH_IP: benchIp } });
  await firstLine(nodes);

  const relight = startProcess(name, process.execPath, [
    join(import.meta.dirname, "relight-host.ts"),
  ], { env: { RELIGHT_CONFIG: relightConfig(socket, scaleRefreshMs) } });
  const port = Number(await firstLine(relight, 30_000));
  return {
    name,
    origin: `http://127.0.0.1:${port}`,
    host: benchHost,
    pid: relight.child.pid!,
    cpuPid: relight.child.pid!,
    webSocket: true,
    command:
      `bun scripts/bench/relight-host.ts against a GET /nodes stand-in listing ${vmCount} VMs`,
    stop: async () => {
      await relight.stop();
      await nodes.stop();
    },
  };
}

async function openIdleSockets(relight: Contestant, count: number): Promise<WebSocket[]> {
  const url = `${relight.origin.replace(/^http/, "ws")}/ws`;
  const sockets: WebSocket[] = [];
  for (let opened = 0; opened < count; opened += socketBatch) {
    const batch = Array.from({ length: Math.min(socketBatch, count - opened) }, () => {
      const socket = runtime.connectWebSocket(url, {
        headers: [["host", relight.host]],
      });
      sockets.push(socket);
      return new Promise<void>((resolve, reject) => {
        socket.onopen = () => resolve();
        socket.onerror = () => reject(new Error(`idle WebSocket ${sockets.length} failed to open`));
      });
    });
    await Promise.all(batch);
  }
  return sockets;
}

export async function measureScale(
  context: BenchContext,
  sim: SimHost,
  relight: Contestant,
  idleSockets: number,
): Promise<SectionReport> {
  const benchVm = sim.vms.find((vm) => vm.tags.includes(benchHost));
  if (!benchVm) throw new Error(`the simulator has no VM tagged ${benchHost}`);

  const dir = mkdtempSync(join(tmpdir(), "relight-bench-scale-"));
  const started: Contestant[] = [];
  try {
    const small = await startIndexedRelight("index-10", dir, smallIndex, benchVm.ip);
    started.push(small);
    const large = await startIndexedRelight("index-10000", dir, largeIndex, benchVm.ip);
    started.push(large);

    const runs = await inRounds(context, [small, large], "scale", (c) =>
      runWrk({
        url: `${c.origin}/`,
        host: c.host,
        connections: context.settings.connections,
        durationSeconds: context.settings.durationSeconds,
      }));
    const smallRate = median(runs.get(small.name)!.map((r) => r.requestsPerSecond));
    const largeRate = median(runs.get(large.name)!.map((r) => r.requestsPerSecond));
    const smallRss = treeRss(small.pid!);
    const largeRss = treeRss(large.pid!);
    const perEntry = (largeRss - smallRss) / (largeIndex - smallIndex);

    context.log(`scale: ${idleSockets} idle WebSockets through Relight`);
    const rssBefore = treeRss(relight.pid!);
    const sockets = await openIdleSockets(relight, idleSockets);
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const rssOpen = treeRss(relight.pid!);
    for (const socket of sockets) socket.close(1000);

    const throughputRatio = largeRate / smallRate;
    const targets: TargetCheck[] = [{
      target: "10,000-VM index req/s within 5% of the 10-VM index",
      measured: formatRatio(throughputRatio),
      met: Number.isFinite(throughputRatio) ? throughputRatio >= 0.95 : undefined,
    }];

    return {
      title: "Scale",
      method: "Two more Relight processes, each reading its index from a stand-in for " +
        "GET /nodes (`scripts/bench/nodes-server.ts`) that lists 10 or 10,000 running VMs; " +
        "one of them is the simulator's bench VM, the rest have loopback addresses that no " +
        "request reaches. The simulator itself cannot hold 10,000 VMs, because each VM is a " +
        "real process on one /24 of loopback addresses. Both refresh the index every " +
        `${scaleRefreshMs / 1000} s (Relight's default). ` +
        "wrk runs against each in alternating rounds. " +
        "Memory per entry is the RSS difference of the two processes after the runs, " +
        `divided by ${largeIndex - smallIndex}: an estimate, since garbage collection ` +
        `timing differs. Idle WebSockets: ${idleSockets} opened through the main Relight ` +
        "process to the app's echo path, RSS read 2 s after the last one opened.",
      table: table(["measurement", "value"], [
        ["req/s, 10-VM index", formatNumber(smallRate)],
        ["req/s, 10,000-VM index", formatNumber(largeRate)],
        ["10,000 / 10", formatRatio(throughputRatio)],
        ["RSS, 10-VM index", formatMiB(smallRss)],
        ["RSS, 10,000-VM index", formatMiB(largeRss)],
        ["memory per index entry (estimate)", `${formatNumber(perEntry)} bytes`],
        ["Relight RSS before the idle WebSockets", formatMiB(rssBefore)],
        [`Relight RSS with ${idleSockets} idle WebSockets`, formatMiB(rssOpen)],
        [
          "per idle WebSocket (estimate)",
          `${formatNumber((rssOpen - rssBefore) / idleSockets)} bytes`,
        ],
      ]),
      commands: [],
      targets,
      notes: [],
    };
  } finally {
    for (const contestant of started) await contestant.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
