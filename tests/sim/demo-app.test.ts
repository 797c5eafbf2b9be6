/** The bundled demo app, run as a simulated VM's process. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { demoFleet, startTestSimulator, type TestSimulator } from "./helpers.ts";

let sim: TestSimulator;
let base: string;

beforeAll(async () => {
  sim = await startTestSimulator({ fleet: demoFleet([{ tags: ["demo", "team=web"] }]) });
  const vm = sim.simulator.control.getVm("apps-1");
  base = `http://${vm?.ip}:${vm?.appPort}`;
});

afterAll(async () => {
  await sim.stop();
});

describe("demo app", () => {
  test("root names hostname and tags", async () => {
    const response = await fetch(`${base}/`);
    expect(response.headers.get("content-type")).toStartWith("text/plain");
    expect(await response.text()).toBe("Hello from apps-1\ntags: demo, team=web\n");
  });

  test("sse sends count events", async () => {
    const response = await fetch(`${base}/sse?interval=10&count=3`);
    expect(response.headers.get("content-type")).toBe("text/event-stream");
    const text = await response.text();
    const events = text.split("\n\n").filter((event) => event !== "");
    expect(events.length).toBe(3);
    expect(events[0]).toStartWith("id: 1\ndata: ");
    expect(JSON.parse(events[2]?.split("data: ")[1] ?? "{}").n).toBe(3);
  });

  test("sse rejects a bad interval", async () => {
    const response = await fetch(`${base}/sse?interval=fast`);
    expect(response.status).toBe(400);
  });

  test("websocket echoes and answers the first subprotocol", async () => {
    const socket = new WebSocket(`${base.replace("http", "ws")}/ws`, ["chat.v2", "chat.v1"]);
    const opened = new Promise((resolve, reject) => {
      socket.onopen = resolve;
      socket.onerror = reject;
    });
    await opened;
    expect(socket.protocol).toBe("chat.v2");

    const echoed = new Promise<string>((resolve) => {
      socket.onmessage = (event) => resolve(String(event.data));
    });
    socket.send("ping");
    expect(await echoed).toBe("ping");

    const closed = new Promise<CloseEvent>((resolve) => {
      socket.onclose = resolve;
    });
    socket.send("/close 4001 going away");
    const event = await closed;
    expect(event.code).toBe(4001);
    expect(event.reason).toBe("going away");
  });

  test("websocket close code from the client comes back", async () => {
    const socket = new WebSocket(`${base.replace("http", "ws")}/ws`);
    await new Promise((resolve) => {
      socket.onopen = resolve;
    });
    const closed = new Promise<CloseEvent>((resolve) => {
      socket.onclose = resolve;
    });
    socket.close(4321, "client done");
    const event = await closed;
    expect(event.code).toBe(4321);
  });

  test("echo streams the body back", async () => {
    const body = "x".repeat(200_000);
    const response = await fetch(`${base}/echo`, {
      method: "POST",
      body,
      headers: { "content-type": "text/plain" },
    });
    expect(response.headers.get("content-type")).toBe("text/plain");
    expect(await response.text()).toBe(body);
  });

  test("bytes streams n bytes", async () => {
    const response = await fetch(`${base}/bytes?n=150000`);
    const bytes = new Uint8Array(await response.arrayBuffer());
    expect(bytes.length).toBe(150_000);
  });

  test("file sends n bytes with a length", async () => {
    const response = await fetch(`${base}/file?n=150000`);
    expect(response.headers.get("content-length")).toBe("150000");
    expect((await response.arrayBuffer()).byteLength).toBe(150_000);
  });

  test("file rejects sizes over 64 MiB", async () => {
    const response = await fetch(`${base}/file?n=${64 * 1024 * 1024 + 1}`);
    expect(response.status).toBe(400);
    expect(await response.text()).toContain("at most");
  });

  test("headers returns request headers", async () => {
    const response = await fetch(`${base}/headers`, { headers: { "x-probe": "42" } });
    const headers = await response.json();
    expect(headers["x-probe"]).toBe("42");
  });

  test("slow answers after the delay", async () => {
    const started = performance.now();
    const response = await fetch(`${base}/slow?ms=150`);
    expect(await response.text()).toBe("slept 150 ms\n");
    expect(performance.now() - started).toBeGreaterThanOrEqual(145);
  });

  test("redirect answers 302", async () => {
    const response = await fetch(`${base}/redirect`, { redirect: "manual" });
    expect(response.status).toBe(302);
    expect(response.headers.get("location")).toBe("/");
  });

  test("cookies sets two cookies", async () => {
    const response = await fetch(`${base}/cookies`);
    expect(response.headers.getSetCookie()).toEqual([
      "first=1; Path=/",
      "second=2; Path=/; HttpOnly",
    ]);
  });

  test("unknown path is a 404", async () => {
    const response = await fetch(`${base}/nope`);
    expect(response.status).toBe(404);
  });
});
