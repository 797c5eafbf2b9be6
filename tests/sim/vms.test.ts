/**
 * VM behaviour: real process groups that freeze on pause, thaw on resume,
 * move to new addresses and leave nothing behind.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { acceptsConnections, isGroupAlive } from "../../src/sim/app-process.ts";
import { demoFleet, settlesWithin, startTestSimulator, type TestSimulator } from "./helpers.ts";

const demoAppPath = fileURLToPath(new URL("../../src/sim/demo-app.ts", import.meta.url));

/** Reads a process's state letter from /proc (R, S, T for stopped, ...). */
function processState(pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0] ?? "";
}

async function waitFor(
  condition: () => boolean | Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

let sim: TestSimulator;

beforeAll(async () => {
  sim = await startTestSimulator({
    fleet: {
      host_groups: [
        ...demoFleet([{ tags: ["hello"] }, { tags: ["sleepy"], status: "Paused" }]).host_groups,
        {
          name: "shell",
          app_port: 9090,
          // A background child shares the process group, so pause and stop reach it too.
          command: `sleep 300 & exec "${process.execPath}" "${demoAppPath}"`,
          vms: [{ tags: ["shell-app"] }],
        },
      ],
    },
  });
});

afterAll(async () => {
  await sim.stop();
});

describe("simulated VMs", () => {
  test("each VM has its own loopback address", () => {
    const vms = sim.simulator.control.listVms();
    const ips = new Set(vms.map((vm) => vm.ip));
    expect(ips.size).toBe(vms.length);
    for (const ip of ips) expect(ip).toMatch(/^127\.(6[4-9]|[7-9]\d|1[01]\d|12[0-7])\.\d+\.\d+$/);
  });

  test("app gets hostname and tags", async () => {
    const vm = sim.simulator.control.getVm("apps-1");
    const response = await fetch(`http://${vm?.ip}:${vm?.appPort}/`);
    const text = await response.text();
    expect(text).toContain("apps-1");
    expect(text).toContain("hello");
  });

  test("VM created paused is frozen", async () => {
    const vm = sim.simulator.control.getVm("apps-2");
    expect(vm?.status).toBe("Paused");
    await waitFor(() => processState(vm?.pid ?? 0) === "T", 1000);
  });

  test("paused VM hangs and answers after resume", async () => {
    const vm = sim.simulator.control.getVm("apps-1");
    if (!vm) throw new Error("apps-1 is missing");
    const paused = await sim.api("/vm/apps-1/pause", { method: "POST" });
    expect(paused.status).toBe(200);
    expect(sim.simulator.control.getVm("apps-1")?.status).toBe("Paused");

    const request = fetch(`http://${vm.ip}:${vm.appPort}/`).then((response) => response.text());
    expect(await settlesWithin(request, 1000)).toBe("pending");

    const resumed = await sim.api("/vm/apps-1/resume", { method: "POST" });
    expect(resumed.status).toBe(200);
    expect(await settlesWithin(request, 2000)).toContain("apps-1");
    expect(sim.simulator.control.getVm("apps-1")?.status).toBe("Running");
  });

  test("pause freezes every process of the group", async () => {
    const vm = sim.simulator.control.getVm("shell-1");
    if (!vm?.pid) throw new Error("shell-1 has no process");
    await sim.simulator.control.pauseVm("shell-1");
    const members = readdirGroup(vm.pid);
    expect(members.length).toBeGreaterThanOrEqual(2);
    // SIGSTOP and SIGCONT take effect when the kernel next schedules each process.
    await waitFor(() => members.every((pid) => processState(pid) === "T"), 1000);

    await sim.simulator.control.resumeVm("shell-1");
    await waitFor(() => members.every((pid) => processState(pid) !== "T"), 1000);
  });

  test("resume delay keeps the VM paused for a while", async () => {
    const control = sim.simulator.control;
    await control.pauseVm("apps-1");
    control.setResumeDelay(400);
    try {
      const started = Date.now();
      const resumed = await sim.api("/vm/apps-1/resume", { method: "POST" });
      expect(resumed.status).toBe(200);
      expect(await resumed.text()).toBe("Resume initiated");
      expect(control.getVm("apps-1")?.status).toBe("Paused");
      const health = await sim.api("/vm/apps-1/health");
      expect(health.status).toBe(500);

      await waitFor(() => control.getVm("apps-1")?.status === "Running", 3000);
      expect(Date.now() - started).toBeGreaterThanOrEqual(390);
      const ready = await sim.api("/vm/apps-1/health");
      expect(ready.status).toBe(200);
    } finally {
      control.setResumeDelay(0);
    }
  });

  test("pause cancels a delayed resume", async () => {
    const control = sim.simulator.control;
    await control.pauseVm("apps-1");
    control.setResumeDelay(200);
    try {
      await sim.api("/vm/apps-1/resume", { method: "POST" });
      await sim.api("/vm/apps-1/pause", { method: "POST" });
      await new Promise((resolve) => setTimeout(resolve, 400));
      expect(control.getVm("apps-1")?.status).toBe("Paused");
    } finally {
      control.setResumeDelay(0);
      await control.resumeVm("apps-1");
    }
  });

  test("control pause is not an API call", async () => {
    const control = sim.simulator.control;
    control.clearCalls();
    await control.pauseVm("apps-1");
    const nodes = await (await sim.api("/nodes?tag=hello")).json();
    expect(nodes[0].status).toBe("Paused");
    expect(control.countCalls("pause")).toBe(0);
    await control.resumeVm("apps-1");
    expect(control.countCalls("resume")).toBe(0);
  });

  test("move restarts the app on a new address", async () => {
    const control = sim.simulator.control;
    const before = control.getVm("apps-1");
    if (!before) throw new Error("apps-1 is missing");
    const newIp = await control.moveVm("apps-1");
    expect(newIp).not.toBe(before.ip);

    const after = control.getVm("apps-1");
    expect(after?.ip).toBe(newIp);
    expect(after?.pid).not.toBe(before.pid);
    expect(isGroupAlive(before.pid ?? 0)).toBe(false);
    expect(await acceptsConnections(before.ip, before.appPort)).toBe(false);
    const text = await (await fetch(`http://${newIp}:${before.appPort}/`)).text();
    expect(text).toContain("apps-1");

    const nodes = await (await sim.api("/nodes?tag=hello")).json();
    expect(nodes[0].ip).toBe(newIp);
  });

  test("move keeps a paused VM paused", async () => {
    const control = sim.simulator.control;
    const newIp = await control.moveVm("apps-2");
    const vm = control.getVm("apps-2");
    expect(vm?.ip).toBe(newIp);
    expect(vm?.status).toBe("Paused");
    // SIGSTOP takes effect when the kernel next schedules the process.
    await waitFor(() => processState(vm?.pid ?? 0) === "T", 1000);
  });

  test("stop and relaunch keep the address", async () => {
    const control = sim.simulator.control;
    const vm = await control.createVm("apps", { tags: ["restartable"] });
    await control.stopVm(vm.hostname);
    expect(control.getVm(vm.hostname)?.status).toBe("Stopped");
    expect(control.getVm(vm.hostname)?.pid).toBeUndefined();
    expect(isGroupAlive(vm.pid ?? 0)).toBe(false);

    const response = await sim.api(`/vm/${vm.hostname}/relaunch`, { method: "POST" });
    expect(response.status).toBe(200);
    expect(control.getVm(vm.hostname)?.ip).toBe(vm.ip);
    await waitFor(async () => (await sim.api(`/vm/${vm.hostname}/health`)).status === 200, 5000);
  });

  test("delete kills the process group", async () => {
    const control = sim.simulator.control;
    const vm = await control.createVm("apps", { tags: ["short-lived"], status: "Paused" });
    await control.deleteVm(vm.hostname);
    expect(control.getVm(vm.hostname)).toBeUndefined();
    expect(isGroupAlive(vm.pid ?? 0)).toBe(false);
    expect(await acceptsConnections(vm.ip, vm.appPort)).toBe(false);
  });

  test("delete releases the address", async () => {
    const control = sim.simulator.control;
    const first = await control.createVm("apps", { tags: ["released"] });
    await control.deleteVm(first.hostname);

    const second = await control.createVm("apps", { tags: ["released"] });
    await control.deleteVm(second.hostname);

    expect(second.hostname).not.toBe(first.hostname);
    expect(second.ip).toBe(first.ip);
  });

  test("hostnames are never reused", async () => {
    const control = sim.simulator.control;
    const first = await control.createVm("apps", { tags: [] });
    await control.deleteVm(first.hostname);
    const second = await control.createVm("apps", { tags: [] });
    expect(second.hostname).not.toBe(first.hostname);
    await control.deleteVm(second.hostname);
  });

  test("control calls on an unknown VM raise", async () => {
    const control = sim.simulator.control;
    await expect(control.pauseVm("apps-404")).rejects.toThrow("VM not found: apps-404");
    await expect(control.moveVm("apps-404")).rejects.toThrow("VM not found: apps-404");
    await expect(control.createVm("nope", { tags: [] })).rejects.toThrow(
      "host group not found: nope",
    );
  });
});

/** Lists the pids in a process group by scanning /proc. */
function readdirGroup(pgid: number): number[] {
  return readdirSync("/proc")
    .filter((name) => /^\d+$/.test(name))
    .map(Number)
    .filter((pid) => {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
        const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        return Number(fields[2]) === pgid;
      } catch {
        return false;
      }
    });
}

describe("simulator socket", () => {
  test("socket file has mode 0600", () => {
    const stats = statSync(sim.socketPath);
    expect(stats.isSocket()).toBe(true);
    expect((stats.mode & 0o777).toString(8)).toBe("600");
  });
});

describe("simulator shutdown", () => {
  test("stop kills every VM and removes the socket", async () => {
    const local = await startTestSimulator({
      fleet: demoFleet([{ tags: ["a"] }, { tags: ["b"], status: "Paused" }]),
    });
    const pids = local.simulator.control.listVms().map((vm) => vm.pid ?? 0);
    expect(pids.every((pid) => isGroupAlive(pid))).toBe(true);

    await local.simulator.stop();
    for (const pid of pids) expect(`${pid}:${isGroupAlive(pid)}`).toBe(`${pid}:false`);
    expect(existsSync(local.socketPath)).toBe(false);
    await local.stop();
  });
});
