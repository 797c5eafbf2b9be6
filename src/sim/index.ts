/**
 * The Slicer simulator: a stand-in for slicerd, which needs KVM and is closed
 * source, for Relight's development, demo and tests. It serves the Slicer REST
 * API over a unix socket or loopback HTTP. Each VM is a real process group on
 * its own loopback address, where pause is SIGSTOP and resume is SIGCONT.
 * Tests can inject latency, failures, hangs and outages, and count calls.
 * A watchdog process kills every VM if the simulator's process dies before
 * `stop()`.
 */
import { getLogger } from "../log.ts";
import { AddressPool, randomAddressPrefix } from "./addresses.ts";
import { createApiHandler } from "./api.ts";
import { controlPrefix, createControlHandler } from "./control-api.ts";
import { Faults } from "./faults.ts";
import { Listener } from "./serve.ts";
import type { Simulator, SimulatorControl, SimulatorOptions } from "./types.ts";
import { defaultReadyTimeoutMs, snapshot, VmRegistry } from "./vms.ts";
import { Watchdog } from "./watchdog.ts";

export type * from "./types.ts";
export { endpoints } from "./types.ts";
export { loadFleetFile, parseFleet } from "./fleet.ts";

const logger = getLogger("sim");

function checkLoopback(hostname: string): void {
  if (
    !/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname) && hostname !== "::1" &&
    hostname !== "localhost"
  ) {
    throw new RangeError(
      `Invalid listen address "${hostname}": the simulator listens on loopback only (127.0.0.0/8, ::1 or localhost)`,
    );
  }
}

function formatUrl(hostname: string, port: number | undefined): string {
  const host = hostname.includes(":") ? `[${hostname}]` : hostname;
  return `http://${host}:${port}`;
}

/** Starts a simulator. When it resolves, the VMs in `options.fleet` are running, paused or stopped as listed. */
export async function startSimulator(options: SimulatorOptions): Promise<Simulator> {
  if (options.socketPath === undefined && options.http === undefined) {
    throw new TypeError("Missing listener: set socketPath, http or both");
  }
  if (options.http) checkLoopback(options.http.hostname);
  if (options.controlHttp) checkLoopback(options.controlHttp.hostname);
  const resumeDelayMs = options.resumeDelayMs ?? 0;
  if (!Number.isInteger(resumeDelayMs) || resumeDelayMs < 0) {
    throw new RangeError(`Invalid resumeDelayMs ${resumeDelayMs}: use a non-negative integer`);
  }

  const faults = new Faults();
  const watchdog = await Watchdog.start();
  const registry = new VmRegistry({
    pool: new AddressPool(options.addressPrefix ?? randomAddressPrefix()),
    output: options.vmOutput ?? "ignore",
    resumeDelayMs,
    watchdog,
  });
  const apiListeners: Listener[] = [];
  const controlListeners: Listener[] = [];

  const control: SimulatorControl = {
    createVm: async (group, spec) =>
      snapshot(await registry.create(group, spec, defaultReadyTimeoutMs)),
    getVm: (hostname) => {
      const vm = registry.get(hostname);
      return vm ? snapshot(vm) : undefined;
    },
    listVms: () => registry.vms().map(snapshot),
    // Async wrappers turn the registry's synchronous "VM not found" into a rejection.
    pauseVm: async (hostname) => await registry.pause(hostname),
    resumeVm: async (hostname) => await registry.resume(hostname, 0),
    stopVm: async (hostname) => await registry.stop(hostname),
    deleteVm: async (hostname) => await registry.delete(hostname),
    moveVm: async (hostname) => await registry.move(hostname),
    setResumeDelay: (ms) => {
      if (!Number.isInteger(ms) || ms < 0) {
        throw new RangeError(`Invalid resume delay ${ms}: use a non-negative integer of ms`);
      }
      registry.resumeDelayMs = ms;
    },
    setLatency: (endpoint, ms) => faults.setLatency(endpoint, ms),
    failNext: (endpoint, count, status) => faults.failNext(endpoint, count, status),
    hang: (endpoint, on) => faults.hang(endpoint, on),
    setDown: (down) => {
      for (const listener of apiListeners) {
        if (down) listener.close();
        else listener.open();
      }
      logger.info(down ? "api down" : "api up");
    },
    calls: () => faults.calls(),
    countCalls: (endpoint, hostname) => faults.countCalls(endpoint, hostname),
    clearCalls: () => faults.clearCalls(),
  };

  const stop = async () => {
    for (const listener of [...apiListeners, ...controlListeners]) listener.close();
    faults.releaseAll();
    await registry.deleteAll();
    await watchdog.close();
    logger.info("simulator stopped");
  };

  const apiHandler = createApiHandler({ registry, faults, token: options.token });
  const sharedControlHandler = createControlHandler(control, options.token, true);
  const handler = (request: Request) => {
    const path = new URL(request.url).pathname;
    return path.startsWith(controlPrefix) ? sharedControlHandler(request) : apiHandler(request);
  };

  try {
    for (const group of options.fleet?.host_groups ?? []) registry.addGroup(group);
    // Hostnames are assigned in fleet order, and then the apps start in parallel.
    await Promise.all(
      (options.fleet?.host_groups ?? []).flatMap((group) =>
        (group.vms ?? []).map((vm) => registry.create(group.name, vm, defaultReadyTimeoutMs))
      ),
    );

    if (options.socketPath !== undefined) {
      apiListeners.push(await Listener.unix(options.socketPath, handler));
    }
    if (options.http) {
      apiListeners.push(Listener.tcp(options.http.hostname, options.http.port, handler));
    }
    if (options.controlHttp) {
      const { hostname, port } = options.controlHttp;
      const controlHandler = createControlHandler(control, options.token, false);
      controlListeners.push(Listener.tcp(hostname, port, controlHandler));
    }
  } catch (error) {
    await stop();
    throw error;
  }

  const simulator: Simulator = { control, stop };
  if (options.socketPath !== undefined) simulator.socketPath = options.socketPath;
  if (options.http) simulator.url = formatUrl(options.http.hostname, apiListeners.at(-1)?.port);
  if (options.controlHttp) {
    simulator.controlUrl = formatUrl(options.controlHttp.hostname, controlListeners[0]?.port);
  }
  // Lists only the listeners that are set, so a socket-only simulator logs no `url=undefined`.
  logger.info("simulator started", {
    ...(simulator.socketPath === undefined ? {} : { socket: simulator.socketPath }),
    ...(simulator.url === undefined ? {} : { url: simulator.url }),
    ...(simulator.controlUrl === undefined ? {} : { control: simulator.controlUrl }),
    vms: registry.vms().length,
  });
  return simulator;
}
