/**
 * The simulated Slicer host and Relight. The simulator runs stand-alone
 * (`src/sim/main.ts`) with a fleet whose VMs run the benchmark's upstream
 * app. Relight routes to those VMs by Host, and the other contestants proxy
 * to the address of the same `bench` VM, so every contestant meets the same
 * upstream process.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { SimVm } from "../../src/sim/index.ts";
import { benchHost, type Contestant, type Upstream } from "./contestants.ts";
import { firstLine, freePort, startProcess, trackGroup, waitForPort } from "./processes.ts";

/** Host header of a VM that starts paused, for the wake measurements. */
export const wakeHost = "wake.relight.test";
/** Port the app listens on inside each simulated VM. */
const appPort = 8080;
/** Running VMs in the fleet besides `bench`, so the index is not trivially small. */
const extraRunningVms = 8;
/** Relight's background index refresh interval in the benchmark: 1 s, the least a config may set. */
export const refreshIntervalMs = 1000;

export interface SimHost {
  /** Base URL of the `/_sim/` control API. */
  controlUrl: string;
  socketPath: string;
  resumeDelayMs: number;
  vms: SimVm[];
  stop(): Promise<void>;
}

function fleetYaml(): string {
  const command = JSON.stringify([process.execPath, join(import.meta.dirname, "upstream-app.ts")]);
  const extra = Array.from(
    { length: extraRunningVms },
    (_, i) => `      - tags: ["vm-${i + 1}.relight.test"]`,
  );
  return [
    "host_groups:",
    "  - name: bench",
    `    app_port: ${appPort}`,
    `    command: ${command}`,
    "    vms:",
    `      - tags: ["${benchHost}"]`,
    `      - tags: ["${wakeHost}"]`,
    "        status: Paused",
    ...extra,
    "",
  ].join("\n");
}

/** Starts the simulator with the benchmark fleet and returns once every VM is up. */
export async function startSimHost(resumeDelayMs: number): Promise<SimHost> {
  const dir = mkdtempSync(join(tmpdir(), "relight-bench-sim-"));
  const fleetFile = join(dir, "fleet.yaml");
  const socketPath = join(dir, "slicer.sock");
  writeFileSync(fleetFile, fleetYaml());

  const controlPort = await freePort();
  const simMain = join(import.meta.dirname, "..", "..", "src", "sim", "main.ts");
  const started = startProcess("simulator", process.execPath, [
    simMain,
    "--fleet",
    fleetFile,
    "--socket",
    socketPath,
    "--control",
    `127.0.0.1:${controlPort}`,
    "--resume-delay",
    `${resumeDelayMs}ms`,
  ], { tempDir: dir });
  await waitForPort(started, controlPort, "127.0.0.1", 30_000);

  const controlUrl = `http://127.0.0.1:${controlPort}/_sim`;
  const vms = (await (await fetch(`${controlUrl}/vms`)).json()) as SimVm[];
  // VM apps run in process groups of their own. If the simulator is killed
  // before it can stop them, the exit path kills them too.
  for (const vm of vms) if (vm.pid !== undefined) trackGroup(vm.pid);

  return {
    controlUrl,
    socketPath,
    resumeDelayMs,
    vms,
    stop: started.stop,
  };
}

/** Returns the `bench` VM's app as the upstream the other contestants proxy to. */
export function benchVmUpstream(sim: SimHost): Upstream {
  const vm = sim.vms.find((candidate) => candidate.tags.includes(benchHost));
  if (!vm || vm.pid === undefined) {
    throw new Error(`the simulator has no running VM tagged ${benchHost}`);
  }
  return {
    origin: `http://${vm.ip}:${vm.appPort}`,
    pid: vm.pid,
    stop: async () => {},
  };
}

/** Returns relight.yaml text for the benchmark. `refreshMs` defaults to `refreshIntervalMs`. */
export function relightConfig(socketPath: string, refreshMs = refreshIntervalMs): string {
  return [
    'listen: "127.0.0.1:0"',
    "slicer:",
    `  url: ${JSON.stringify(socketPath)}`,
    `refresh_interval: ${refreshMs}ms`,
    "defaults:",
    "  host_group: bench",
    "  idle_timeout: 1h",
    `  app_port: ${appPort}`,
    "log:",
    "  level: error",
    "",
  ].join("\n");
}

/** Starts Relight in its own process, routing to the simulator's VMs. */
export async function startRelightContestant(sim: SimHost): Promise<Contestant> {
  const script = join(import.meta.dirname, "relight-host.ts");
  const started = startProcess("relight", process.execPath, [script], {
    env: { RELIGHT_CONFIG: relightConfig(sim.socketPath) },
  });
  const port = Number(await firstLine(started, 20_000));
  return {
    name: "relight",
    origin: `http://127.0.0.1:${port}`,
    host: benchHost,
    pid: started.child.pid!,
    cpuPid: started.child.pid!,
    webSocket: true,
    command: "RELIGHT_CONFIG=... bun scripts/bench/relight-host.ts (config below)",
    stop: started.stop,
  };
}

/** Calls the simulator's control API and returns the parsed JSON body. */
export async function simControl(
  sim: SimHost,
  method: string,
  path: string,
  body?: unknown,
): Promise<unknown> {
  const response = await fetch(`${sim.controlUrl}${path}`, {
    method,
    ...(body === undefined
      ? {}
      : { body: JSON.stringify(body), headers: { "content-type": "application/json" } }),
  });
  const text = await response.text();
  if (!response.ok) {
    throw new Error(`simulator control ${method} ${path} failed with ${response.status}: ${text}`);
  }
  return text ? JSON.parse(text) : undefined;
}

/** Counts the Slicer API calls the simulator logged, by endpoint. */
export async function countCalls(sim: SimHost): Promise<Map<string, number>> {
  const result = (await simControl(sim, "GET", "/calls")) as { calls: { endpoint: string }[] };
  const counts = new Map<string, number>();
  for (const call of result.calls) counts.set(call.endpoint, (counts.get(call.endpoint) ?? 0) + 1);
  return counts;
}
