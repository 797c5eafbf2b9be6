/**
 * Starts Debian's `pebble` ACME test server and `pebble-challtestsrv` as its
 * DNS server on loopback ports, for tests that obtain real certificates.
 * Every name resolves to 127.0.0.1, and pebble validates HTTP-01 challenges
 * on the port the caller's HTTP listener has bound. When either binary is
 * missing, `startPebble` throws, so the tests fail instead of skipping.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeSelfSigned } from "./support.ts";

export interface Pebble {
  /** ACME directory URL, `https://127.0.0.1:<port>/dir`. */
  directoryUrl: string;
  /** PEM of the certificate pebble serves its own API with. */
  apiCertificate: string;
  /** File holding `apiCertificate`, for a CA bundle option. */
  caFile: string;
  /** Fetches the root that signs the certificates pebble issues (new on every start). */
  issuingRoot(): Promise<string>;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("no port bound");
  return address.port;
}

function getWithCa(url: string, ca: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { ca }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

function startProcess(command: string, args: string[], env: Record<string, string>): ChildProcess {
  const child = spawn(command, args, {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.on("error", (error) => {
    output += String(error);
    failedToSpawn.add(child);
  });
  Object.defineProperty(child, "collectedOutput", { get: () => output });
  return child;
}

const failedToSpawn = new WeakSet<ChildProcess>();

function spawnFailed(child: ChildProcess): boolean {
  return failedToSpawn.has(child);
}

function outputOf(child: ChildProcess): string {
  return (child as unknown as { collectedOutput: string }).collectedOutput;
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 2_000);
  await exited;
  clearTimeout(timer);
}

/** Starts pebble and its DNS server; `httpPort` is where pebble sends HTTP-01 checks. */
export async function startPebble(options: { httpPort: number }): Promise<Pebble> {
  const dir = mkdtempSync(join(tmpdir(), "relight-pebble-"));
  const { certFile, keyFile } = makeSelfSigned(dir, "pebble", ["localhost", "127.0.0.1"], 2);
  const [listenPort, managementPort, dnsPort, dnsManagementPort] = [
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
  ];
  const configFile = join(dir, "pebble.json");
  writeFileSync(
    configFile,
    JSON.stringify({
      pebble: {
        listenAddress: `127.0.0.1:${listenPort}`,
        managementListenAddress: `127.0.0.1:${managementPort}`,
        certificate: certFile,
        privateKey: keyFile,
        httpPort: options.httpPort,
        tlsPort: options.httpPort,
        ocspResponderURL: "",
        externalAccountBindingRequired: false,
      },
    }),
  );

  // Only the DNS server runs; its challenge servers would bind fixed ports.
  const dns = startProcess("pebble-challtestsrv", [
    "-defaultIPv4",
    "127.0.0.1",
    "-defaultIPv6",
    "",
    "-dns01",
    `127.0.0.1:${dnsPort}`,
    "-management",
    `127.0.0.1:${dnsManagementPort}`,
    "-http01",
    "",
    "-https01",
    "",
    "-tlsalpn01",
    "",
  ], {});
  const pebble = startProcess("pebble", [
    "-config",
    configFile,
    "-dnsserver",
    `127.0.0.1:${dnsPort}`,
    "-strict=false",
  ], { PEBBLE_VA_NOSLEEP: "1", PEBBLE_WFE_NONCEREJECT: "0" });

  const stop = async () => {
    await Promise.all([stopProcess(pebble), stopProcess(dns)]);
    rmSync(dir, { recursive: true, force: true });
  };

  const apiCertificate = readFileSync(certFile, "utf8");
  const directoryUrl = `https://127.0.0.1:${listenPort}/dir`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    const exited = [pebble, dns].some((child) => child.exitCode !== null || spawnFailed(child));
    if (exited) {
      const output = `${outputOf(pebble)}\n${outputOf(dns)}`;
      await stop();
      throw new Error(`pebble exited at start (is the pebble package installed?):\n${output}`);
    }
    try {
      const response = await getWithCa(directoryUrl, apiCertificate);
      if (response.status === 200) break;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) {
      const output = outputOf(pebble);
      await stop();
      throw new Error(`pebble did not answer on ${directoryUrl} within 10 s:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }

  return {
    directoryUrl,
    apiCertificate,
    caFile: certFile,
    async issuingRoot() {
      const response = await getWithCa(
        `https://127.0.0.1:${managementPort}/roots/0`,
        apiCertificate,
      );
      if (response.status !== 200) throw new Error(`pebble roots: HTTP ${response.status}`);
      return response.body;
    },
    stop,
  };
}
