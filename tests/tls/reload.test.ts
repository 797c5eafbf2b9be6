/**
 * HTTPS start and reload through `startRelight` and the `relight` command:
 * exclusive use of `tls.listen`, keep-alive connections across reloads, and
 * expired certificate files.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { connect, type TLSSocket } from "node:tls";
import type { Config, TlsConfig } from "../../src/config/types.ts";
import { startRelight } from "../../src/relight.ts";
import {
  startTestRelight,
  testConfig,
  type TestRelight,
  wildcardSite,
} from "../harness/relight.ts";
import { SimProcess } from "../harness/sim.ts";
import { handshake, makeExpired, makeSelfSigned, makeTempDir } from "./support.ts";

const MAIN = join(import.meta.dir, "../../src/main.ts");
const HOST = "myapp.apps.example.com";

const dir = makeTempDir();
const wildcard = makeSelfSigned(dir.path, "wildcard", ["*.apps.example.com"]);
const renewed = makeSelfSigned(dir.path, "renewed", ["*.apps.example.com"]);
const expired = makeExpired(dir.path, "expired", ["*.apps.example.com"]);
const expiredMessage =
  `tls.certificates[0]: certificate ${expired.certFile} expired at 2020-01-02T00:00:00.000Z (renew it)`;

let sim: SimProcess;
const running: TestRelight[] = [];

beforeAll(async () => {
  sim = await SimProcess.start({ groups: [{ name: "apps", vms: [{ tags: ["myapp"] }] }] });
});

afterAll(async () => {
  await Promise.all(running.map((relight) => relight.relight.shutdown()));
  await sim?.stop();
  dir.remove();
});

function tlsConfig(overrides: Partial<TlsConfig> = {}): TlsConfig {
  return {
    listen: { hostname: "127.0.0.1", port: 0 },
    certificates: [wildcard],
    redirectHttp: false,
    ...overrides,
  };
}

function configWith(tls: TlsConfig): Config {
  return testConfig(sim.socketPath, { sites: [wildcardSite("apps.example.com")], tls });
}

async function start(config: Config): Promise<TestRelight> {
  const relight = await startTestRelight(config, { processMetrics: false });
  running.push(relight);
  return relight;
}

function httpsPort(relight: TestRelight): number {
  const address = relight.relight.httpsAddress;
  if (address === undefined) throw new Error("https listener is not serving");
  return address.port;
}

/** An HTTP/1.1 client over one raw TLS connection, for keep-alive checks. */
class KeepAliveConnection {
  closed = false;
  #buffer = "";
  #waiter: (() => void) | undefined;

  private constructor(readonly socket: TLSSocket) {
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => {
      this.#buffer += chunk;
      this.#waiter?.();
    });
    socket.on("close", () => {
      this.closed = true;
      this.#waiter?.();
    });
    socket.on("error", () => {});
  }

  static open(port: number): Promise<KeepAliveConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect(
        { host: "127.0.0.1", port, servername: HOST, rejectUnauthorized: false },
        () => resolve(new KeepAliveConnection(socket)),
      );
      socket.once("error", reject);
    });
  }

  /** Sends a GET and reads the response, which must carry a Content-Length. */
  async get(path: string): Promise<{ status: number; body: string }> {
    this.socket.write(`GET ${path} HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`);
    const deadline = Date.now() + 5_000;
    for (;;) {
      const response = this.#takeResponse();
      if (response !== undefined) return response;
      if (this.closed) throw new Error(`connection closed before the response to ${path}`);
      if (Date.now() > deadline) throw new Error(`GET ${path} timed out`);
      await new Promise<void>((resolve) => {
        this.#waiter = resolve;
        setTimeout(resolve, 100);
      });
    }
  }

  /** Resolves true once the server closed the connection, false after `ms`. */
  async closedWithin(ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!this.closed && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return this.closed;
  }

  #takeResponse(): { status: number; body: string } | undefined {
    const headerEnd = this.#buffer.indexOf("\r\n\r\n");
    if (headerEnd < 0) return undefined;
    const head = this.#buffer.slice(0, headerEnd);
    const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? Number.NaN);
    if (Number.isNaN(length)) throw new Error(`response without Content-Length:\n${head}`);
    // The test bodies are ASCII, so characters count as bytes.
    const end = headerEnd + 4 + length;
    if (this.#buffer.length < end) return undefined;

    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0);
    const body = this.#buffer.slice(headerEnd + 4, end);
    this.#buffer = this.#buffer.slice(end);
    return { status, body };
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Runs `src/main.ts` with `args` and resolves with its exit code and stderr. */
function runRelight(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child: ChildProcess = spawn(process.execPath, [MAIN, ...args], {
      cwd: dir.path,
      env: { PATH: process.env["PATH"] ?? "", HOME: dir.path },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

function writeConfig(name: string, tlsListen: string, pair: { certFile: string; keyFile: string }) {
  const path = join(dir.path, name);
  writeFileSync(
    path,
    [
      "listen: 127.0.0.1:0",
      "slicer:",
      `  url: ${dir.path}/slicer.sock`,
      "tls:",
      `  listen: ${tlsListen}`,
      "  certificates:",
      `    - cert_file: ${pair.certFile}`,
      `      key_file: ${pair.keyFile}`,
      "",
    ].join("\n"),
  );
  return path;
}

describe("tls.listen exclusive use", () => {
  test("second Relight on same port rejected", async () => {
    const first = await start(configWith(tlsConfig()));
    const port = httpsPort(first);

    const second = startRelight(configWith(tlsConfig({ listen: { hostname: "127.0.0.1", port } })));
    await expect(second).rejects.toThrow(
      `failed to bind tls.listen "127.0.0.1:${port}": address already in use`,
    );
    const result = await handshake(port, HOST);
    expect(result.subjectAltName).toBe("DNS:*.apps.example.com");
  });

  test("reload to a held port rejected", async () => {
    const holder = await start(configWith(tlsConfig()));
    const heldPort = httpsPort(holder);
    const relight = await start(configWith(tlsConfig()));
    const ownPort = httpsPort(relight);

    const next = configWith(tlsConfig({ listen: { hostname: "127.0.0.1", port: heldPort } }));
    await expect(relight.relight.reload(next)).rejects.toThrow(
      `failed to bind tls.listen "127.0.0.1:${heldPort}": address already in use`,
    );
    expect(relight.relight.httpsAddress?.port).toBe(ownPort);
  });

  test("relight command exits 1 on held port", async () => {
    const holder = await start(configWith(tlsConfig()));
    const port = httpsPort(holder);
    const path = writeConfig("held.yaml", `127.0.0.1:${port}`, wildcard);

    const result = await runRelight(["--config", path]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      `failed to bind tls.listen "127.0.0.1:${port}": address already in use`,
    );
  });
});

describe("HTTPS reload and keep-alive connections", () => {
  test("unchanged reload keeps idle connection", async () => {
    const config = configWith(tlsConfig());
    const relight = await start(config);
    const connection = await KeepAliveConnection.open(httpsPort(relight));
    try {
      const before = await connection.get("/");
      expect(before.status).toBe(200);

      // The same config re-reads the same files, as SIGHUP does.
      await relight.relight.reload({ ...config });
      expect(await connection.closedWithin(300)).toBe(false);

      const after = await connection.get("/");
      expect(after.status).toBe(200);
    } finally {
      connection.close();
    }
  });

  test("changed certificate closes idle connection", async () => {
    // Documented behaviour of Bun 1.4.5: stop(false) on the replaced server
    // closes its idle keep-alive connections, and clients reconnect.
    const relight = await start(configWith(tlsConfig()));
    const port = httpsPort(relight);
    const connection = await KeepAliveConnection.open(port);
    try {
      expect((await connection.get("/")).status).toBe(200);

      await relight.relight.reload(configWith(tlsConfig({ certificates: [renewed] })));
      expect(await connection.closedWithin(3_000)).toBe(true);

      const renewedPem = readFileSync(renewed.certFile, "utf8");
      const result = await handshake(port, HOST, renewedPem);
      expect(result.authorized).toBe(true);
    } finally {
      connection.close();
    }
  });
});

describe("expired certificate files", () => {
  test("start rejects an expired certificate", async () => {
    const starting = startRelight(configWith(tlsConfig({ certificates: [expired] })));
    await expect(starting).rejects.toThrow(expiredMessage);
  });

  test("reload rejects an expired certificate", async () => {
    const relight = await start(configWith(tlsConfig()));
    const port = httpsPort(relight);
    const wildcardPem = readFileSync(wildcard.certFile, "utf8");

    const next = configWith(tlsConfig({ certificates: [expired] }));
    await expect(relight.relight.reload(next)).rejects.toThrow(expiredMessage);

    const result = await handshake(port, HOST, wildcardPem);
    expect(result.authorized).toBe(true);
  });

  test("relight command exits 2 like check", async () => {
    const path = writeConfig("expired.yaml", "127.0.0.1:0", expired);

    const run = await runRelight(["--config", path]);
    const check = await runRelight(["check", "--config", path]);
    expect(run.code).toBe(2);
    expect(check.code).toBe(2);
    const checkFirstLine = check.stderr.split("\n")[0] ?? "";
    expect(checkFirstLine).toBe(`${path}:7:7: ${expiredMessage}`);
    expect(run.stderr.trimEnd().split("\n")).toContain(checkFirstLine);
  });
});
