/**
 * Fault injection and the call log, through the programmatic control and
 * through the `/_sim/` HTTP control API.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { demoFleet, settlesWithin, startTestSimulator, type TestSimulator } from "./helpers.ts";

let sim: TestSimulator;

beforeAll(async () => {
  sim = await startTestSimulator({
    http: { hostname: "127.0.0.1", port: 0 },
    controlHttp: { hostname: "127.0.0.1", port: 0 },
    fleet: demoFleet([{ tags: ["one"] }, { tags: ["two"], status: "Paused" }]),
  });
});

afterAll(async () => {
  await sim.stop();
});

async function timed(call: () => Promise<Response>): Promise<{ status: number; ms: number }> {
  const started = performance.now();
  const response = await call();
  await response.arrayBuffer();
  return { status: response.status, ms: performance.now() - started };
}

describe("fault injection", () => {
  test("latency delays only its endpoint", async () => {
    const control = sim.simulator.control;
    control.setLatency("nodes", 300);
    try {
      const slow = await timed(() => sim.api("/nodes"));
      expect(slow.status).toBe(200);
      expect(slow.ms).toBeGreaterThanOrEqual(290);
      const fast = await timed(() => sim.api("/healthz"));
      expect(fast.ms).toBeLessThan(200);
    } finally {
      control.setLatency("nodes", 0);
    }
    const restored = await timed(() => sim.api("/nodes"));
    expect(restored.ms).toBeLessThan(200);
  });

  test("failNext fails exactly N calls", async () => {
    const control = sim.simulator.control;
    control.failNext("resume", 2, 503);
    for (const attempt of [1, 2]) {
      const response = await sim.api("/vm/apps-2/resume", { method: "POST" });
      expect(`${attempt}:${response.status}`).toBe(`${attempt}:503`);
      expect(response.headers.get("content-type")).toBe("application/json");
      expect(typeof (await response.json()).error).toBe("string");
      expect(control.getVm("apps-2")?.status).toBe("Paused");
    }
    const third = await sim.api("/vm/apps-2/resume", { method: "POST" });
    expect(third.status).toBe(200);
    expect(control.getVm("apps-2")?.status).toBe("Running");
    await control.pauseVm("apps-2");
  });

  test("failNext rejects invalid input", () => {
    const control = sim.simulator.control;
    expect(() => control.failNext("nodes", 1, 200)).toThrow("Invalid failure status 200");
    expect(() => control.failNext("nodes", -1, 500)).toThrow("Invalid count -1");
    expect(() => control.setLatency("nodes", 1.5)).toThrow("Invalid latency 1.5");
  });

  test("hang holds calls until turned off", async () => {
    const control = sim.simulator.control;
    control.hang("pause", true);
    const call = sim.api("/vm/apps-1/pause", { method: "POST" });
    expect(await settlesWithin(call, 500)).toBe("pending");
    expect(control.getVm("apps-1")?.status).toBe("Running");

    const other = await sim.api("/nodes");
    expect(other.status).toBe(200);

    control.hang("pause", false);
    const response = await settlesWithin(call, 2000);
    if (response === "pending") throw new Error("hung call was not released");
    expect(response.status).toBe(200);
    expect(control.getVm("apps-1")?.status).toBe("Paused");
    await control.resumeVm("apps-1");
  });

  test("down refuses connections until up", async () => {
    const control = sim.simulator.control;
    const url = sim.simulator.url;
    control.setDown(true);
    try {
      expect(existsSync(sim.socketPath)).toBe(false);
      await expect(sim.api("/healthz")).rejects.toThrow();
      await expect(fetch(`${url}/healthz`)).rejects.toThrow();
    } finally {
      control.setDown(false);
    }
    expect((await sim.api("/healthz")).status).toBe(200);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
  });

  test("down closes hanging calls", async () => {
    const control = sim.simulator.control;
    control.hang("nodes", true);
    const call = sim.api("/nodes");
    await new Promise((resolve) => setTimeout(resolve, 100));
    control.setDown(true);
    try {
      await expect(call).rejects.toThrow();
    } finally {
      control.hang("nodes", false);
      control.setDown(false);
    }
  });
});

describe("call log", () => {
  test("counts calls per endpoint and VM", async () => {
    const control = sim.simulator.control;
    control.clearCalls();
    await sim.api("/nodes?tag=one");
    await sim.api("/vm/apps-1/health", { method: "HEAD" });
    await sim.api("/vm/apps-2/resume", { method: "POST" });
    await sim.api("/vm/apps-2/pause", { method: "POST" });
    await sim.api("/vm/apps-1/pause", { method: "POST" });
    await sim.api("/vm/apps-1/resume", { method: "POST" });

    expect(control.countCalls("nodes")).toBe(1);
    expect(control.countCalls("health", "apps-1")).toBe(1);
    expect(control.countCalls("pause")).toBe(2);
    expect(control.countCalls("pause", "apps-2")).toBe(1);
    expect(control.countCalls("resume", "apps-1")).toBe(1);
    expect(control.countCalls("resume", "apps-3")).toBe(0);

    const calls = control.calls();
    expect(calls[0]?.method).toBe("GET");
    expect(calls[0]?.path).toBe("/nodes?tag=one");
    expect(calls[0]?.endpoint).toBe("nodes");
    expect(calls.map((call) => call.time)).toEqual([...calls.map((call) => call.time)].sort());
  });

  test("create and list are told apart", async () => {
    const control = sim.simulator.control;
    control.clearCalls();
    await sim.api("/hostgroup/apps/nodes");
    const created = await sim.api("/hostgroup/apps/nodes", {
      method: "POST",
      body: JSON.stringify({ tags: ["counted"] }),
    });
    const { hostname } = await created.json();
    await sim.api(`/hostgroup/apps/nodes/${hostname}`, { method: "DELETE" });
    expect(control.countCalls("hostgroup_nodes")).toBe(1);
    expect(control.countCalls("create")).toBe(1);
    expect(control.countCalls("delete", hostname)).toBe(1);
  });

  test("clearCalls empties the log", async () => {
    const control = sim.simulator.control;
    await sim.api("/healthz");
    control.clearCalls();
    expect(control.calls()).toEqual([]);
  });
});

describe("control HTTP API", () => {
  const controlCall = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${sim.simulator.controlUrl}/_sim/${path}`, {
      method,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: response.status, body: await response.json() };
  };

  test("lists, creates, pauses and deletes VMs", async () => {
    const list = await controlCall("GET", "vms");
    expect(list.status).toBe(200);
    expect(list.body.map((vm: { hostname: string }) => vm.hostname)).toContain("apps-1");

    const created = await controlCall("POST", "vms", { group: "apps", tags: ["via-http"] });
    expect(created.status).toBe(201);
    const hostname = created.body.hostname as string;

    const paused = await controlCall("POST", `vms/${hostname}/pause`);
    expect(paused.body.status).toBe("Paused");
    const resumed = await controlCall("POST", `vms/${hostname}/resume`);
    expect(resumed.body.status).toBe("Running");
    const moved = await controlCall("POST", `vms/${hostname}/move`);
    expect(moved.body.ip).not.toBe(created.body.ip);
    const stopped = await controlCall("POST", `vms/${hostname}/stop`);
    expect(stopped.body.status).toBe("Stopped");

    const deleted = await controlCall("DELETE", `vms/${hostname}`);
    expect(deleted.status).toBe(200);
    const missing = await controlCall("GET", `vms/${hostname}`);
    expect(missing.status).toBe(404);
  });

  test("sets faults and reads calls", async () => {
    expect((await controlCall("DELETE", "calls")).status).toBe(200);
    expect(
      (await controlCall("POST", "fail-next", { endpoint: "info", count: 1, status: 500 })).status,
    )
      .toBe(200);
    expect((await sim.api("/info")).status).toBe(500);
    expect((await sim.api("/info")).status).toBe(200);

    expect((await controlCall("PUT", "latency", { endpoint: "info", ms: 200 })).status).toBe(200);
    const slow = await timed(() => sim.api("/info"));
    expect(slow.ms).toBeGreaterThanOrEqual(190);
    await controlCall("PUT", "latency", { endpoint: "info", ms: 0 });

    expect((await controlCall("PUT", "hang", { endpoint: "info", on: true })).status).toBe(200);
    const hung = sim.api("/info");
    expect(await settlesWithin(hung, 300)).toBe("pending");
    await controlCall("PUT", "hang", { endpoint: "info", on: false });
    expect(((await hung) as Response).status).toBe(200);

    const calls = await controlCall("GET", "calls?endpoint=info");
    expect(calls.body.count).toBe(4);
    expect(calls.body.calls[0].path).toBe("/info");
  });

  test("sets the resume delay", async () => {
    const control = sim.simulator.control;
    expect((await controlCall("PUT", "resume-delay", { ms: 300 })).status).toBe(200);
    try {
      await control.pauseVm("apps-1");
      await sim.api("/vm/apps-1/resume", { method: "POST" });
      expect(control.getVm("apps-1")?.status).toBe("Paused");
    } finally {
      await controlCall("PUT", "resume-delay", { ms: 0 });
      await control.resumeVm("apps-1");
    }
  });

  test("down for a while comes back by itself", async () => {
    const response = await fetch(`${sim.simulator.url}/_sim/down`, {
      method: "PUT",
      body: JSON.stringify({ down: true, for_ms: 300 }),
    });
    expect(response.status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 100));
    await expect(fetch(`${sim.simulator.url}/healthz`)).rejects.toThrow();
    // The separate control listener stays up while the API is down.
    expect((await controlCall("GET", "vms")).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect((await fetch(`${sim.simulator.url}/healthz`)).status).toBe(200);
  });

  test("down on the control listener is immediate", async () => {
    expect((await controlCall("PUT", "down", { down: true })).status).toBe(200);
    try {
      await expect(sim.api("/healthz")).rejects.toThrow();
    } finally {
      expect((await controlCall("PUT", "down", { down: false })).status).toBe(200);
    }
    expect((await sim.api("/healthz")).status).toBe(200);
  });

  test("rejects invalid input with 400", async () => {
    const badEndpoint = await controlCall("PUT", "latency", { endpoint: "bogus", ms: 1 });
    expect(badEndpoint.status).toBe(400);
    expect(badEndpoint.body.error).toContain("invalid endpoint");
    const badMs = await controlCall("PUT", "latency", { endpoint: "nodes", ms: -1 });
    expect(badMs.status).toBe(400);
    const badStatus = await controlCall("POST", "fail-next", {
      endpoint: "nodes",
      count: 1,
      status: 99,
    });
    expect(badStatus.status).toBe(400);
    const badVm = await controlCall("POST", "vms", { group: "apps", tags: "x" });
    expect(badVm.status).toBe(400);
    const badGroup = await controlCall("POST", "vms", { group: "nope", tags: [] });
    expect(badGroup.status).toBe(404);
    const unknown = await controlCall("GET", "nothing");
    expect(unknown.status).toBe(404);
    const outside = await fetch(`${sim.simulator.controlUrl}/nodes`);
    expect(outside.status).toBe(404);
  });
});
