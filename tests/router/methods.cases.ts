/**
 * Requests the router rejects before routing: CONNECT, TRACE and TRACK in
 * any spelling, and an absolute-form target whose host differs from `Host`.
 * Checked over raw TCP, because fetch can send neither these methods nor an
 * absolute-form target.
 */
import assert from "node:assert/strict";
import net from "node:net";
import { handleRequest, type RouterState } from "../../src/app/router.ts";
import { type RequestContext, runtime } from "../../src/runtime/index.ts";
import type { CaseGroup } from "../support/cases.ts";
import {
  catchAllSite,
  startTestRelight,
  testConfig,
  type TestRelight,
} from "../harness/relight.ts";
import { SimProcess } from "../harness/sim.ts";

let sim: SimProcess;
let router: TestRelight;

/** Writes `text` to the router and returns the bytes received until close or `waitMs`. */
function exchangeRaw(text: string, waitMs = 1000): Promise<string> {
  const port = router.relight.address.port;
  return new Promise((resolve, reject) => {
    let received = "";
    const socket = net.connect(port, "127.0.0.1", () => socket.write(text));
    const timer = setTimeout(() => socket.destroy(), waitMs);
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => {
      received += chunk;
    });
    socket.on("error", reject);
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(received);
    });
  });
}

/** Returns the status line of a raw HTTP/1.1 response. */
function statusLine(response: string): string {
  return response.split("\r\n", 1)[0] ?? "";
}

/**
 * Router state whose every use other than the access log hook fails the
 * test, for requests rejected before routing.
 */
const untouchedState = new Proxy({} as RouterState, {
  get(_target, property) {
    if (property === "exchangeEnded") return undefined;
    throw new Error(`router state used: ${String(property)}`);
  },
});

const untouchedContext: RequestContext = {
  remoteAddress: "127.0.0.1",
  disableTimeout: () => undefined,
  upgrade: () => undefined,
  clientGone: new AbortController().signal,
  stoppedByServer: false,
};

export const methodCases: CaseGroup = {
  name: "router methods",
  async beforeAll() {
    sim = await SimProcess.start({
      groups: [{ name: "apps", vms: [{ tags: ["sleepy"], status: "Paused" }] }],
    });
    router = await startTestRelight(testConfig(sim.socketPath, { sites: [catchAllSite()] }));
  },
  async afterAll() {
    await router?.relight.shutdown();
    await sim?.stop();
  },
  cases: [
    {
      name: "CONNECT gets 501 and close",
      async run() {
        await sim.clearCalls();
        const response = await exchangeRaw(
          "CONNECT sleepy:443 HTTP/1.1\r\nHost: sleepy:443\r\n\r\n",
        );

        assert.equal(statusLine(response), "HTTP/1.1 501 Not Implemented");
        assert.match(response, /\r\nconnection: close\r\n/i);
        assert.doesNotMatch(response, /\r\nallow:/i);
        assert.equal(await sim.countCalls("resume"), 0, "resume calls");
        assert.equal((await sim.vmByTag("sleepy")).status, "Paused");
      },
    },
    {
      name: "TRACE gets 405 without Allow",
      async run() {
        await sim.clearCalls();
        const response = await exchangeRaw(
          "TRACE / HTTP/1.1\r\nHost: sleepy\r\nConnection: close\r\n\r\n",
        );

        assert.equal(statusLine(response), "HTTP/1.1 405 Method Not Allowed");
        assert.doesNotMatch(response, /\r\nallow:/i);
        assert.match(response, /\r\n\r\nMethod Not Allowed\n$/);
        assert.equal(await sim.countCalls("resume"), 0, "resume calls");
        assert.equal((await sim.vmByTag("sleepy")).status, "Paused");
      },
    },
    {
      name: "fetch-forbidden methods in any case",
      async run() {
        // Deno's fetch rejects these names case-insensitively, so each would
        // otherwise wake the VM and end in a 502.
        for (const method of ["trace", "Trace", "TRACK", "track", "connect"]) {
          await sim.clearCalls();
          const response = await exchangeRaw(
            `${method} / HTTP/1.1\r\nHost: sleepy\r\nConnection: close\r\n\r\n`,
          );

          if (runtime.name === "deno") {
            assert.equal(statusLine(response), "HTTP/1.1 501 Not Implemented", method);
            assert.doesNotMatch(response, /\r\nallow:/i, method);
          } else {
            // Bun 1.4.5's parser closes the connection on any method it does
            // not know, before the handler runs.
            assert.equal(response, "", method);
          }
          assert.equal(await sim.countCalls("resume"), 0, `resume calls for ${method}`);
        }
        assert.equal((await sim.vmByTag("sleepy")).status, "Paused");
      },
    },
    {
      name: "target host differing from Host",
      async run() {
        // A Request made in code keeps both values on Bun and Deno alike.
        const request = new Request("http://sleepy/headers", { headers: { host: "victim" } });
        const response = await handleRequest(untouchedState, request, untouchedContext);
        assert.equal(response.status, 400);
      },
    },
    {
      name: "absolute-form target over TCP",
      async run() {
        await sim.clearCalls();
        const response = await exchangeRaw(
          "GET http://sleepy/ HTTP/1.1\r\nHost: victim\r\nConnection: close\r\n\r\n",
        );

        if (runtime.name === "deno") {
          assert.equal(statusLine(response), "HTTP/1.1 400 Bad Request");
        } else {
          // Bun 1.4.5 builds request.url from Host and drops the target's
          // authority, so the request routes by Host: here, to no VM.
          assert.equal(statusLine(response), "HTTP/1.1 404 Not Found");
        }
        assert.equal(await sim.countCalls("resume"), 0, "resume calls");
      },
    },
    {
      name: "absolute-form target matching Host",
      async run() {
        const response = await exchangeRaw(
          "GET http://victim/ HTTP/1.1\r\nHost: victim\r\nConnection: close\r\n\r\n",
        );
        assert.equal(statusLine(response), "HTTP/1.1 404 Not Found");
      },
    },
    {
      name: "GET still wakes the VM",
      async run() {
        // The same request with an ordinary method does reach the VM, so
        // the checks above can fail.
        await sim.clearCalls();
        const response = await router.get("sleepy", "/");
        await response.body?.cancel();

        assert.equal(response.status, 200);
        assert.equal(await sim.countCalls("resume"), 1, "resume calls");
      },
    },
  ],
};
