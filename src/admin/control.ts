/** Manual wake and pause of one VM, as the admin API requests them. */
import { getLogger } from "../log.ts";
import type { VmState } from "../status.ts";
import { WakeError } from "../vm/errors.ts";
import { goingAway } from "./websockets.ts";
import type { ControlResult } from "./server.ts";

const log = getLogger("admin");

/** The parts of a VM that manual control uses. */
export interface ControllableVm {
  readonly hostname: string;
  readonly state: VmState;
  readonly inFlightRequests: number;
  readonly openWebSockets: number;
  readonly settings: { readonly wakeTimeoutMs: number };
  ensureReady(timeoutMs: number): Promise<void>;
  pauseNow(): Promise<boolean>;
  closeWebSockets(code: number, reason: string): number;
}

/** Wakes `vm` and waits up to its wake timeout for it to be ready. */
export async function wakeVm(vm: ControllableVm | undefined): Promise<ControlResult> {
  if (vm === undefined) return { outcome: "not_found" };
  try {
    await vm.ensureReady(vm.settings.wakeTimeoutMs);
    return { outcome: "ok", state: vm.state };
  } catch (error) {
    const message = error instanceof WakeError
      ? `wake ${error.result}: ${error.message}`
      : String(error);
    log.warning("manual wake failed", { vm: vm.hostname, error: message });
    return { outcome: "failed", error: message };
  }
}

/**
 * Pauses `vm`. Unless `force`, a VM with requests in flight or WebSockets
 * open is left running and "busy" is returned, because pausing it would
 * stall those connections. A forced pause first closes the VM's client
 * WebSockets with 1001, because a paused app could not respond to them, and
 * they stay closed when the pause then fails. A VM that is already paused
 * counts as success.
 */
export async function pauseVm(
  vm: ControllableVm | undefined,
  force: boolean,
): Promise<ControlResult> {
  if (vm === undefined) return { outcome: "not_found" };
  if (!force && (vm.inFlightRequests > 0 || vm.openWebSockets > 0)) {
    return {
      outcome: "busy",
      inFlightRequests: vm.inFlightRequests,
      openWebSockets: vm.openWebSockets,
    };
  }

  // The sockets are closed first, so the app can still reply to the close
  // and the relays end at once instead of waiting out their close timeout.
  if (force) {
    const closed = vm.closeWebSockets(goingAway, "app paused");
    if (closed > 0) log.info("websockets closed for pause", { vm: vm.hostname, count: closed });
  }
  if (await vm.pauseNow()) return { outcome: "ok", state: vm.state };
  const error = `pause of ${vm.hostname} failed in state ${vm.state}`;
  log.warning("manual pause failed", { vm: vm.hostname, state: vm.state });
  return { outcome: "failed", error };
}
