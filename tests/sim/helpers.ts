/**
 * Shared setup for simulator tests: a simulator on a unix socket in a temp
 * dir, a fetch bound to that socket, and checks that no VM process is left.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runtime } from "../../src/runtime/index.ts";
import { isGroupAlive } from "../../src/sim/app-process.ts";
import { type Simulator, type SimulatorOptions, startSimulator } from "../../src/sim/index.ts";

export interface TestSimulator {
  simulator: Simulator;
  socketPath: string;
  /** Sends a request to the Slicer API over the unix socket; `path` starts with "/". */
  api(path: string, init?: RequestInit): Promise<Response>;
  /** Stops the simulator, checks that every VM process group is gone, and removes the temp dir. */
  stop(): Promise<void>;
}

export async function startTestSimulator(
  options: Omit<SimulatorOptions, "socketPath"> = {},
): Promise<TestSimulator> {
  const dir = mkdtempSync(join(tmpdir(), "relight-sim-test-"));
  const socketPath = join(dir, "slicer.sock");
  let simulator: Simulator;
  try {
    simulator = await startSimulator({ ...options, socketPath });
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const unixFetch = runtime.createFetch({ unixSocket: socketPath });

  return {
    simulator,
    socketPath,
    api: (path, init) => unixFetch(`http://localhost${path}`, init),
    async stop() {
      const pids = simulator.control.listVms().flatMap((
        vm,
      ) => (vm.pid === undefined ? [] : [vm.pid]));
      await simulator.stop();
      rmSync(dir, { recursive: true, force: true });
      const alive = pids.filter((pid) => isGroupAlive(pid));
      if (alive.length > 0) {
        throw new Error(`VM process groups left after stop: ${alive.join(", ")}`);
      }
    },
  };
}

/** Builds a fleet with one host group of demo-app VMs, one VM per entry. */
export function demoFleet(vms: { tags: string[]; status?: "Running" | "Paused" | "Stopped" }[]) {
  return { host_groups: [{ name: "apps", vms }] };
}

/** Resolves with "pending" if `promise` has not settled after `ms`. */
export function settlesWithin<T>(promise: Promise<T>, ms: number): Promise<T | "pending"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"pending">((resolve) => {
    timer = setTimeout(() => resolve("pending"), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
