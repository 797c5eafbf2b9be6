/**
 * A router for admin tests: a plain object with a status report that tests
 * edit, recording every wake, pause and reload call it receives.
 */
import type { AdminRouter, ControlResult, ReloadResult } from "../../src/admin/server.ts";
import type { StatusReport, VmStatus } from "../../src/status.ts";

export function vmStatus(hostname: string, overrides: Partial<VmStatus> = {}): VmStatus {
  return {
    hostname,
    hostGroup: "apps",
    tags: [hostname.split("-")[0] ?? hostname],
    ip: "192.168.137.2",
    state: "running",
    lastActivity: null,
    inFlightRequests: 0,
    openWebSockets: 0,
    idleTimeoutMs: 300_000,
    ...overrides,
  };
}

export class RecordingRouter implements AdminRouter {
  report: StatusReport = {
    slicer: { reachable: true, lastAnswerAt: new Date().toISOString() },
    index: { refreshedAt: new Date().toISOString(), ageMs: 1500 },
    vms: [],
  };
  isServing = true;
  reloadResult: ReloadResult = { ok: true };
  readonly calls: string[] = [];

  status(): StatusReport {
    return this.report;
  }

  serving(): boolean {
    return this.isServing;
  }

  wake(hostname: string): Promise<ControlResult> {
    this.calls.push(`wake ${hostname}`);
    const vm = this.report.vms.find((v) => v.hostname === hostname);
    if (!vm) return Promise.resolve({ outcome: "not_found" });
    vm.state = "running";
    return Promise.resolve({ outcome: "ok", state: "running" });
  }

  pause(hostname: string, force: boolean): Promise<ControlResult> {
    this.calls.push(`pause ${hostname} force=${force}`);
    const vm = this.report.vms.find((v) => v.hostname === hostname);
    if (!vm) return Promise.resolve({ outcome: "not_found" });
    if (!force && (vm.inFlightRequests > 0 || vm.openWebSockets > 0)) {
      return Promise.resolve({
        outcome: "busy",
        inFlightRequests: vm.inFlightRequests,
        openWebSockets: vm.openWebSockets,
      });
    }
    vm.state = "paused";
    return Promise.resolve({ outcome: "ok", state: "paused" });
  }

  reload(): Promise<ReloadResult> {
    this.calls.push("reload");
    return Promise.resolve(this.reloadResult);
  }
}
