/**
 * Builds a Relight config in code for tests (port 0, the simulator's socket)
 * and starts Relight in-process with a test clock.
 */
import type { Config, SiteConfig, SiteSettings } from "../../src/config/types.ts";
import { type Relight, type RelightOptions, startRelight } from "../../src/relight.ts";
import { runtime } from "../../src/runtime/index.ts";
import { TestClock } from "./clock.ts";

export const testSettings: SiteSettings = {
  hostGroup: "apps",
  idleTimeoutMs: 5 * 60_000,
  wakeTimeoutMs: 10_000,
  appPort: 8080,
};

/** Returns a wildcard site for `*.suffix`, with `settings` merged over the test settings. */
export function wildcardSite(suffix: string, settings: Partial<SiteSettings> = {}): SiteConfig {
  return {
    ...testSettings,
    ...settings,
    pattern: `*.${suffix}`,
    match: { kind: "wildcard", suffix },
  };
}

export function catchAllSite(settings: Partial<SiteSettings> = {}): SiteConfig {
  return { ...testSettings, ...settings, pattern: "*", match: { kind: "exact-any" } };
}

export function implicitSite(settings: Partial<SiteSettings> = {}): SiteConfig {
  return { ...testSettings, ...settings, pattern: "*", match: { kind: "implicit" } };
}

/** Returns a config for the simulator on `socketPath` that listens on an ephemeral port. */
export function testConfig(socketPath: string, overrides: Partial<Config> = {}): Config {
  return {
    file: "test.yaml",
    listen: { hostname: "127.0.0.1", port: 0 },
    slicer: { url: socketPath, socketPath, requestTimeoutMs: 2000 },
    watchIntervalMs: 30_000,
    refreshIntervalMs: 5000,
    defaults: testSettings,
    sites: [implicitSite()],
    trustedProxies: [],
    responseTimeoutMs: 5 * 60_000,
    shutdownTimeoutMs: 1000,
    log: { level: "warning", format: "text", access: false },
    ...overrides,
  };
}

export interface TestRelight {
  relight: Relight;
  clock: TestClock;
  /** `http://127.0.0.1:PORT` of the router listener. */
  baseUrl: string;
  /** Sends a request for `host` with `path` to the router. */
  get(host: string, path?: string, init?: RequestInit): Promise<Response>;
}

export async function startTestRelight(
  config: Config,
  options: Omit<RelightOptions, "clock"> = {},
): Promise<TestRelight> {
  const clock = new TestClock();
  const relight = await startRelight(config, {
    unknownHostRefreshIntervalMs: 0,
    ...options,
    clock,
  });
  const baseUrl = `http://127.0.0.1:${relight.address.port}`;
  // The global fetch of Deno 2.9 drops a caller-set Host header; the
  // adapter's fetch keeps it on both runtimes.
  const hostFetch = runtime.createFetch({});
  return {
    relight,
    clock,
    baseUrl,
    get(host, path = "/", init = {}) {
      const headers = new Headers(init.headers);
      headers.set("host", host);
      return hostFetch(`${baseUrl}${path}`, { ...init, headers });
    },
  };
}

/** Starts Relight, runs `body`, and shuts Relight down even when `body` throws. */
export async function withRelight(
  config: Config,
  body: (running: TestRelight) => Promise<void>,
  options: Omit<RelightOptions, "clock"> = {},
): Promise<void> {
  const running = await startTestRelight(config, options);
  try {
    await body(running);
  } finally {
    await running.relight.shutdown();
  }
}

/** Polls `check` every 10 ms until it returns true or `timeoutMs` passes. */
export async function waitFor(
  check: () => boolean | Promise<boolean>,
  description: string,
  timeoutMs = 5000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${description}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Opens a WebSocket through the router for `host`, offering `protocols`. */
export async function openWebSocket(
  baseUrl: string,
  host: string,
  path: string,
  protocols: string[] = [],
): Promise<WebSocket> {
  const url = `${baseUrl.replace(/^http/, "ws")}${path}`;
  const socket = runtime.connectWebSocket(url, {
    headers: [["host", host]],
    protocols,
  });
  socket.binaryType = "arraybuffer";
  await new Promise<void>((resolve, reject) => {
    socket.addEventListener("open", () => resolve(), { once: true });
    socket.addEventListener("error", () => reject(new Error(`WebSocket to ${host} failed`)), {
      once: true,
    });
  });
  return socket;
}

/** Resolves with the next message on `socket`. */
export function nextMessage(socket: WebSocket): Promise<string | ArrayBuffer> {
  return new Promise((resolve) => {
    socket.addEventListener("message", (event) => resolve(event.data as string | ArrayBuffer), {
      once: true,
    });
  });
}

/** Resolves with the close code and reason once `socket` closes. */
export function closed(socket: WebSocket): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) => {
    socket.addEventListener(
      "close",
      (event) => resolve({ code: event.code, reason: event.reason }),
      {
        once: true,
      },
    );
  });
}
