/**
 * Test servers for the proxy cases: upstream apps and a proxy under test,
 * each served with `runtime.serve` on an ephemeral loopback port, plus a raw
 * TCP client and server for byte-level control of HTTP/1.1 messages.
 */
import { spawn } from "node:child_process";
import { connect, createConnection, createServer, type Server, type Socket } from "node:net";
import {
  parseTrustedProxies,
  type ProxyOptions,
  proxyRequest,
  type Upstream,
} from "../../src/proxy/index.ts";
import {
  type RequestContext,
  type RequestHandler,
  type RunningServer,
  runtime,
  type ServerSocket,
  type UpgradeOptions,
} from "../../src/runtime/index.ts";

export const loopback = "127.0.0.1";

/** Stop tasks for the servers a case started. `stopAll` runs them, also when the case failed. */
export class Cleanup {
  #tasks: (() => Promise<void> | void)[] = [];

  add(task: () => Promise<void> | void): void {
    this.#tasks.push(task);
  }

  async stopAll(): Promise<void> {
    const tasks = this.#tasks.reverse();
    this.#tasks = [];
    for (const task of tasks) await task();
  }
}

/** Starts an upstream app on an ephemeral loopback port. */
export function startUpstream(cleanup: Cleanup, handler: RequestHandler): RunningServer & Upstream {
  const server = runtime.serve({ hostname: loopback, port: 0, handler });
  cleanup.add(() => server.stop(true));
  return Object.assign(server, { hostname: loopback });
}

export interface ProxyUnderTest {
  port: number;
  /** Statuses passed to `onEnd`, in call order. */
  ends: number[];
  /** Errors `proxyRequest` rejected with. The client gets a 503 for each. */
  rejections: unknown[];
  /** Calls to `context.disableTimeout`. */
  timeoutsDisabled: number;
}

export interface ProxySetup {
  trustedProxies?: string[];
  proto?: "http" | "https";
  /** The proxy listener's idle timeout in seconds. */
  idleTimeout?: number;
  webSocketBufferLimit?: number;
  /** Delay in ms before the proxy's WebSocket `open` handler runs, to test early messages. */
  openDelayMs?: number;
  connectTimeoutMs?: number;
  responseTimeoutMs?: number;
}

/** Starts a server whose handler sends every request through `proxyRequest`. */
export function startProxy(
  cleanup: Cleanup,
  upstream: Upstream,
  setup: ProxySetup = {},
): ProxyUnderTest {
  const options: ProxyOptions = {
    trustedProxies: parseTrustedProxies(setup.trustedProxies ?? []),
    proto: setup.proto ?? "http",
    ...(setup.webSocketBufferLimit === undefined
      ? {}
      : { webSocketBufferLimit: setup.webSocketBufferLimit }),
    ...(setup.connectTimeoutMs === undefined ? {} : { connectTimeoutMs: setup.connectTimeoutMs }),
    ...(setup.responseTimeoutMs === undefined
      ? {}
      : { responseTimeoutMs: setup.responseTimeoutMs }),
  };
  const proxy: ProxyUnderTest = { port: 0, ends: [], rejections: [], timeoutsDisabled: 0 };

  const server = runtime.serve({
    hostname: loopback,
    port: 0,
    ...(setup.idleTimeout === undefined ? {} : { idleTimeout: setup.idleTimeout }),
    handler: async (request, context) => {
      const hooks = { onEnd: (status: number) => proxy.ends.push(status) };
      const countingContext: RequestContext = {
        get remoteAddress() {
          return context.remoteAddress;
        },
        disableTimeout: () => {
          proxy.timeoutsDisabled++;
          context.disableTimeout();
        },
        upgrade: (upgradeOptions) => context.upgrade(delayOpen(upgradeOptions, setup.openDelayMs)),
        clientGone: context.clientGone,
        get stoppedByServer() {
          return context.stoppedByServer;
        },
      };
      try {
        return await proxyRequest(request, countingContext, upstream, options, hooks);
      } catch (error) {
        proxy.rejections.push(error);
        return new Response("upstream connect failed\n", { status: 503 });
      }
    },
  });
  cleanup.add(() => server.stop(true));
  proxy.port = server.port;
  return proxy;
}

function delayOpen(options: UpgradeOptions, delayMs: number | undefined): UpgradeOptions {
  if (delayMs === undefined) return options;

  const handlers = options.handlers;
  const open = (socket: ServerSocket) => {
    setTimeout(() => handlers.open(socket), delayMs);
  };
  return { ...options, handlers: { ...handlers, open } };
}

/** Resolves once `condition` is true, or rejects naming `what` after `timeoutMs`. */
export async function waitFor(what: string, condition: () => boolean, timeoutMs = 5_000) {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await sleep(10);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Waits long enough for a stray second `onEnd` call to show up. */
export function settle(): Promise<void> {
  return sleep(100);
}

export interface RawResponse {
  status: number;
  /** Header lines as sent, names lowercased, in order. */
  headers: [string, string][];
  body: string;
}

/** Returns every value of header `name` in a raw response. */
export function headerValues(response: RawResponse, name: string): string[] {
  return response.headers.filter(([key]) => key === name).map(([, value]) => value);
}

/**
 * Sends a raw HTTP/1.1 request and reads until the server closes the
 * connection, so the request should carry `Connection: close`.
 */
export function rawRequest(port: number, lines: string[], body = ""): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: loopback, port });
    const chunks: Buffer[] = [];
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("error", reject);
    socket.on("close", () => {
      try {
        resolve(parseRawResponse(Buffer.concat(chunks).toString("latin1")));
      } catch (error) {
        reject(error);
      }
    });
    socket.write(`${lines.join("\r\n")}\r\n\r\n${body}`);
  });
}

function parseRawResponse(text: string): RawResponse {
  const headEnd = text.indexOf("\r\n\r\n");
  if (headEnd === -1) throw new Error(`incomplete response: ${JSON.stringify(text)}`);

  const [statusLine = "", ...headerLines] = text.slice(0, headEnd).split("\r\n");
  const headers = headerLines.map((line): [string, string] => {
    const colon = line.indexOf(":");
    return [line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim()];
  });
  return {
    status: Number(statusLine.split(" ")[1]),
    headers,
    body: text.slice(headEnd + 4),
  };
}

/**
 * Starts a raw TCP upstream that reads one request head and then hands the
 * socket to `respond`, for responses no HTTP server library would send.
 */
export async function startRawUpstream(
  cleanup: Cleanup,
  respond: (socket: Socket, head: string) => void,
): Promise<Upstream> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    let head = "";
    const onData = (chunk: Buffer) => {
      head += chunk.toString("latin1");
      if (!head.includes("\r\n\r\n")) return;
      socket.off("data", onData);
      respond(socket, head);
    };
    socket.on("data", onData);
  });
  await new Promise<void>((resolve) => server.listen(0, loopback, resolve));
  cleanup.add(() => {
    for (const socket of sockets) socket.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("raw upstream has no port");
  return { hostname: loopback, port: address.port };
}

/**
 * Returns a loopback port whose listener takes no more connections: a child
 * process listens, is stopped with SIGSTOP, and its accept queue is filled,
 * so the kernel drops new SYNs and a connect waits instead of failing.
 */
export async function blackholedPort(cleanup: Cleanup): Promise<number> {
  const script = new URL("./fixtures/listen.ts", import.meta.url).pathname;
  const args = "Bun" in globalThis ? [script] : ["run", "--allow-net", script];
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] });
  const queued: Socket[] = [];
  cleanup.add(() => {
    for (const socket of queued) socket.destroy();
    child.kill("SIGKILL");
  });

  const port = await new Promise<number>((resolve, reject) => {
    child.stdout?.once("data", (data: Buffer) => resolve(Number(String(data).trim())));
    child.once("exit", (code) => reject(new Error(`listener exited with ${code}`)));
  });
  child.kill("SIGSTOP");

  // The accept queue's size depends on the runtime and the kernel's
  // somaxconn, so connections are opened until one does not complete.
  for (let opened = 0; opened < 10_000; opened++) {
    const socket = connect({ host: loopback, port });
    queued.push(socket);
    socket.on("error", () => {});
    const connected = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 200);
      socket.once("connect", () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
    if (!connected) return port;
  }
  throw new Error(`port ${port} still accepted connections after 10000`);
}

/** Returns a loopback port with nothing listening on it. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, loopback, resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("probe server has no port");
  return address.port;
}

/** Runs a case body with a fresh Cleanup and stops what it started afterwards. */
export function withCleanup(body: (cleanup: Cleanup) => Promise<void>): () => Promise<void> {
  return async () => {
    const cleanup = new Cleanup();
    try {
      await body(cleanup);
    } finally {
      await cleanup.stopAll();
    }
  };
}
