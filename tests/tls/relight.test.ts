/**
 * HTTPS through the whole router: `startRelight` with a `tls` block, the
 * simulator's VMs behind it and a real pebble as the ACME server.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import { connect as tcpConnect, createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import type { Config, TlsConfig } from "../../src/config/types.ts";
import { type CertificateOrderResult, noopObserver, type Observer } from "../../src/observe.ts";
import {
  catchAllSite,
  startTestRelight,
  testConfig,
  type TestRelight,
  waitFor,
  wildcardSite,
} from "../harness/relight.ts";
import { SimProcess } from "../harness/sim.ts";
import { type Pebble, startPebble } from "./pebble.ts";
import { handshake, makeSelfSigned, makeTempDir, type TempDir } from "./support.ts";

// Orders take about 100 ms each, but the machine may be busy.
setDefaultTimeout(20_000);

/**
 * Pebble needs the HTTP-01 port before it starts, and Relight binds an
 * ephemeral port after that, so pebble validates through this TCP relay,
 * which forwards to whatever port `target` names.
 */
class Relay {
  target = 0;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();

  constructor() {
    this.#server = createServer((client) => {
      const upstream = tcpConnect({ host: "127.0.0.1", port: this.target });
      for (const socket of [client, upstream]) {
        this.#sockets.add(socket);
        socket.on("close", () => this.#sockets.delete(socket));
        socket.on("error", () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream);
      upstream.pipe(client);
    });
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.#server.listen(0, "127.0.0.1", resolve));
    const address = this.#server.address();
    if (address === null || typeof address === "string") throw new Error("relay not bound");
    return address.port;
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

interface HttpsResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** Sends one GET over TLS with `servername` as SNI and Host, verifying against `ca`. */
function getOverTls(port: number, servername: string, path: string, ca: string) {
  return new Promise<HttpsResponse>((resolve, reject) => {
    const request = httpsRequest(
      {
        host: "127.0.0.1",
        port,
        path,
        servername,
        ca,
        headers: { host: servername },
        agent: false,
      },
      (response) => {
        let body = "";
        response.setEncoding("utf8");
        response.on("data", (chunk: string) => (body += chunk));
        response.on(
          "end",
          () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body }),
        );
        response.on("error", reject);
      },
    );
    request.setTimeout(5_000, () => request.destroy(new Error(`GET ${path} timed out`)));
    request.on("error", reject);
    request.end();
  });
}

const dir = makeTempDir();
const wildcard = makeSelfSigned(dir.path, "wildcard", ["*.apps.example.com"]);
const wildcardPem = readFileSync(wildcard.certFile, "utf8");
const orders: CertificateOrderResult[] = [];
const observer: Observer = { ...noopObserver, certificateOrder: (result) => orders.push(result) };

let relay: Relay;
let pebble: Pebble;
let sim: SimProcess;
let storage: TempDir;
let running: TestRelight;
let config: Config;

function tlsConfig(overrides: Partial<TlsConfig> = {}): TlsConfig {
  return {
    listen: { hostname: "127.0.0.1", port: 0 },
    certificates: [wildcard],
    acme: { directoryUrl: pebble.directoryUrl, caBundle: pebble.caFile, storage: storage.path },
    redirectHttp: true,
    hstsMaxAgeSeconds: 600,
    ...overrides,
  };
}

function httpsPort(): number {
  const address = running.relight.httpsAddress;
  if (address === undefined) throw new Error("https listener is not serving");
  return address.port;
}

/** Adds a VM tagged `domain`, refreshes the index, and waits for the order to finish. */
async function addCustomDomain(domain: string): Promise<void> {
  const before = orders.length;
  await sim.createVm("apps", [domain]);
  await running.relight.refresh();
  await waitFor(() => orders.length > before, `certificate order for ${domain}`, 10_000);
}

beforeAll(async () => {
  relay = new Relay();
  const relayPort = await relay.listen();
  pebble = await startPebble({ httpPort: relayPort });
  sim = await SimProcess.start({ groups: [{ name: "apps", vms: [{ tags: ["myapp"] }] }] });
  storage = makeTempDir();
  config = testConfig(sim.socketPath, {
    sites: [wildcardSite("apps.example.com"), catchAllSite()],
    tls: tlsConfig(),
  });
  running = await startTestRelight(config, { observer, processMetrics: false });
  relay.target = running.relight.address.port;
}, 60_000);

afterAll(async () => {
  await running?.relight.shutdown();
  await sim?.stop();
  await pebble?.stop();
  await relay?.close();
  storage?.remove();
  dir.remove();
}, 30_000);

describe("HTTPS through startRelight", () => {
  test("wildcard file served through router", async () => {
    const result = await handshake(httpsPort(), "myapp.apps.example.com", wildcardPem);
    expect(result.subjectAltName).toBe("DNS:*.apps.example.com");
    expect(result.authorized).toBe(true);

    const response = await getOverTls(
      httpsPort(),
      "myapp.apps.example.com",
      "/headers",
      wildcardPem,
    );
    expect(response.status).toBe(200);
    const headers = JSON.parse(response.body) as Record<string, string>;
    expect(headers["x-forwarded-proto"]).toBe("https");
    expect(response.headers["strict-transport-security"]).toBe("max-age=600");
    // A name that a certificate file covers needs no ACME order.
    expect(existsSync(join(storage.path, "certificates/myapp.apps.example.com.crt"))).toBe(false);
  });

  test("custom domain certified before any request", async () => {
    const before = orders.length;
    await addCustomDomain("shop.example.org");
    expect(orders.slice(before)).toEqual(["issued"]);

    const root = await pebble.issuingRoot();
    const result = await handshake(httpsPort(), "shop.example.org", root);
    expect(result.subjectAltName).toBe("DNS:shop.example.org");
    expect(result.authorizationError).toBeUndefined();
    expect(result.authorized).toBe(true);

    const response = await getOverTls(httpsPort(), "shop.example.org", "/", root);
    expect(response.status).toBe(200);
    expect(response.body).toContain("tags: shop.example.org");

    const metrics = await running.relight.metrics.render();
    expect(metrics).toMatch(/relight_certificate_orders_total\{result="issued"\} [1-9]/);
  });

  test("unknown name causes no order", async () => {
    const before = orders.length;
    const plain = await running.get("nowhere.example.net", "/.well-known/acme-challenge/x");
    await plain.body?.cancel();
    const tls = await handshake(httpsPort(), "nowhere.example.net");
    expect(tls.subjectAltName).toBe("DNS:*.apps.example.com");
    await running.relight.refresh();

    // ACME runs are queued one after another, so once the marker's order
    // is done, any order the unknown name caused would be done too.
    await addCustomDomain("marker.example.org");
    expect(orders.slice(before)).toEqual(["issued"]);
    expect(existsSync(join(storage.path, "certificates/marker.example.org.crt"))).toBe(true);
    expect(existsSync(join(storage.path, "certificates/nowhere.example.net.crt"))).toBe(false);
  });

  test("plain HTTP redirected except challenge paths", async () => {
    const redirected = await running.get("myapp.apps.example.com", "/some/path?q=1", {
      redirect: "manual",
    });
    expect(redirected.status).toBe(308);
    expect(redirected.headers.get("location")).toBe(
      `https://myapp.apps.example.com:${httpsPort()}/some/path?q=1`,
    );

    const challenge = await running.get("myapp.apps.example.com", "/.well-known/acme-challenge/x", {
      redirect: "manual",
    });
    expect(challenge.status).toBe(404);
    expect(await challenge.text()).toBe("Not Found\n");
  });

  test("TLS WebSocket survives added certificate", async () => {
    // Bun's client WebSocket takes `headers` and `tls`, which the standard one lacks.
    const BunWebSocket = WebSocket as unknown as new (
      url: string,
      options: { headers: Record<string, string>; tls: { rejectUnauthorized: boolean } },
    ) => WebSocket;
    const socket = new BunWebSocket(`wss://127.0.0.1:${httpsPort()}/ws`, {
      headers: { host: "myapp.apps.example.com" },
      tls: { rejectUnauthorized: false },
    });
    const messages: string[] = [];
    let closed = false;
    socket.addEventListener("message", (event) => messages.push(String(event.data)));
    socket.addEventListener("close", () => (closed = true));
    await new Promise((resolve, reject) => {
      socket.addEventListener("open", resolve);
      socket.addEventListener("error", reject);
    });

    await addCustomDomain("added.example.org");
    const root = await pebble.issuingRoot();
    const result = await handshake(httpsPort(), "added.example.org", root);
    expect(result.authorized).toBe(true);

    socket.send("after the new certificate");
    await waitFor(() => messages.length > 0 || closed, "echo over the WebSocket", 3_000);
    expect(closed).toBe(false);
    expect(messages).toEqual(["after the new certificate"]);
    socket.close();
  });

  test("reload applies a changed tls block", async () => {
    const extra = makeSelfSigned(dir.path, "extra", ["extra.example.com"]);
    await running.relight.reload({
      ...config,
      tls: tlsConfig({ certificates: [wildcard, extra], redirectHttp: false }),
    });
    const extraPem = readFileSync(extra.certFile, "utf8");
    await waitFor(async () => {
      const result = await handshake(httpsPort(), "extra.example.com");
      return result.subjectAltName === "DNS:extra.example.com";
    }, "the reloaded certificate");

    const response = await getOverTls(httpsPort(), "extra.example.com", "/", extraPem);
    // No VM is tagged extra.example.com: the certificate is served, and the
    // router responds 404 for the name.
    expect(response.status).toBe(404);
    const plain = await running.get("myapp.apps.example.com", "/", { redirect: "manual" });
    expect(plain.status).toBe(200);
    await plain.body?.cancel();
  });
});
