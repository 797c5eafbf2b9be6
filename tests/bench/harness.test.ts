/**
 * Smoke test of the benchmark harness: the upstream app, the bare proxy, the
 * open-loop client and the process cleanup, with short runs on loopback.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { dirname } from "node:path";
import { benchHost, startBare, startUpstream } from "../../scripts/bench/contestants.ts";
import {
  benchVmUpstream,
  countCalls,
  startRelightContestant,
  startSimHost,
} from "../../scripts/bench/fleet.ts";
import { median, parseWrk, percentile, runOpenLoop } from "../../scripts/bench/load.ts";
import { startProcess, stopAll, treeCpuSeconds, treeRss } from "../../scripts/bench/processes.ts";

const wrkOutput = `Running 2s test @ http://127.0.0.1:40000/
  1 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.27ms  420.11us  12.01ms   90.00%
    Req/Sec    34.20k     1.20k   36.00k    80.00%
  Latency Distribution
     50%    1.20ms
     75%    1.40ms
     90%    1.70ms
     99%  850.00us
  68402 requests in 2.00s, 9.00MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:  34201.00
Transfer/sec:      4.50MB
`;

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("wrk output parser", () => {
  const result = parseWrk(wrkOutput);

  test("reads requests per second", () => {
    expect(result.requestsPerSecond).toBe(34201);
  });

  test("converts percentiles to ms", () => {
    expect(result.p50Ms).toBe(1.2);
    expect(result.p99Ms).toBeCloseTo(0.85, 6);
  });

  test("sums socket errors and non-2xx", () => {
    expect(result.errors).toBe(7);
  });

  test("rejects output without latency lines", () => {
    expect(() => parseWrk("Requests/sec: 1\n  1 requests in 1s")).toThrow(/50% latency/);
  });
});

describe("statistics", () => {
  test("median of an even count", () => {
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });

  test("percentile picks the nearest rank", () => {
    const values = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(values, 50)).toBe(50);
    expect(percentile(values, 99)).toBe(99);
  });
});

describe("CPU time of a process tree", () => {
  afterAll(stopAll);

  test("counts a grandchild that spins", async () => {
    // The shell waits while its child spins, so nearly all CPU time is the grandchild's.
    const started = startProcess("spinner", "sh", ["-c", "sh -c 'while :; do :; done' & wait"]);
    const pid = started.child.pid!;
    await Bun.sleep(100);
    const before = treeCpuSeconds(pid);
    const startedAt = performance.now();
    await Bun.sleep(500);
    const used = treeCpuSeconds(pid) - before;
    const elapsed = (performance.now() - startedAt) / 1000;

    expect(used).toBeGreaterThan(0.1);
    expect(used).toBeLessThan(elapsed + 0.05);
    await started.stop();
  });

  test("is 0 for a process ID that no process has", () => {
    // Linux process IDs stop at 2^22.
    expect(treeCpuSeconds(2 ** 22 + 1)).toBe(0);
  });
});

describe("upstream app behind the bare proxy", () => {
  afterAll(stopAll);

  test("serves, measures and stops cleanly", async () => {
    const upstream = await startUpstream();
    const bare = await startBare(upstream);

    const response = await fetch(`${bare.origin}/bytes?n=300000`, {
      headers: { host: benchHost },
    });
    expect(response.status).toBe(200);
    expect((await response.arrayBuffer()).byteLength).toBe(300_000);

    const upload = await fetch(`${bare.origin}/upload`, {
      method: "POST",
      body: new Uint8Array(123_456),
      headers: { host: benchHost },
    });
    expect((await upload.text()).trim()).toBe("123456");

    const load = await runOpenLoop({
      url: `${bare.origin}/`,
      host: benchHost,
      rate: 200,
      durationSeconds: 0.5,
    });
    expect(load.errors).toBe(0);
    expect(load.requests).toBe(100);
    expect(load.p99Ms).toBeGreaterThan(0);

    const proxyPid = bare.pid!;
    expect(treeRss(proxyPid)).toBeGreaterThan(1_000_000);

    await stopAll();
    expect(isAlive(proxyPid)).toBe(false);
    expect(isAlive(upstream.pid)).toBe(false);
  });
});

describe("simulated fleet behind Relight", () => {
  afterAll(stopAll);

  test("routes the bench host and counts calls", async () => {
    const sim = await startSimHost(0);
    const relight = await startRelightContestant(sim);
    const vmPids = sim.vms.map((vm) => vm.pid!);

    const response = await fetch(`${relight.origin}/`, { headers: { host: benchHost } });
    expect(response.status).toBe(200);
    expect(await response.text()).toBe("hello, bench\n");

    const upstream = benchVmUpstream(sim);
    const direct = await fetch(`${upstream.origin}/`);
    expect(direct.status).toBe(200);

    const calls = await countCalls(sim);
    expect(calls.get("nodes")).toBeGreaterThan(0);
    expect(calls.get("resume")).toBeUndefined();

    await stopAll();
    expect(isAlive(relight.pid!)).toBe(false);
    for (const pid of vmPids) expect(isAlive(pid)).toBe(false);
    expect(existsSync(dirname(sim.socketPath))).toBe(false);
  }, 30_000);
});
