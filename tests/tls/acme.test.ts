import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { AcmeConfig } from "../../src/config/types.ts";
import { type CertificateOrderResult, noopObserver, type Observer } from "../../src/observe.ts";
import { type RunningServer, runtime } from "../../src/runtime/index.ts";
import { AcmeManager, type AcmeManagerOptions } from "../../src/tls/acme.ts";
import { HttpsListener } from "../../src/tls/listener.ts";
import { CertificateStore } from "../../src/tls/store.ts";
import { type Pebble, startPebble } from "./pebble.ts";
import { handshake, makeTempDir, type TempDir } from "./support.ts";

let pebble: Pebble;
let http: RunningServer;
/** Manager whose challenges the HTTP listener serves. When undefined, challenges get 404. */
let answering: AcmeManager | undefined;
const cleanups: (() => Promise<void> | void)[] = [];

beforeAll(async () => {
  http = runtime.serve({
    hostname: "127.0.0.1",
    port: 0,
    handler: (request) =>
      answering?.handleAcmeChallenge(request) ?? new Response("no app", { status: 404 }),
  });
  pebble = await startPebble({ httpPort: http.port });
}, 30_000);

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  await pebble?.stop();
  await http?.stop(true);
}, 30_000);

interface Harness {
  manager: AcmeManager;
  store: CertificateStore;
  orders: CertificateOrderResult[];
}

function acmeConfig(storage: TempDir): AcmeConfig {
  return { directoryUrl: pebble.directoryUrl, caBundle: pebble.caFile, storage: storage.path };
}

function startManager(
  storage: TempDir,
  routed: string[],
  options: Partial<AcmeManagerOptions> = {},
): Harness {
  const store = new CertificateStore();
  const orders: CertificateOrderResult[] = [];
  const observer: Observer = {
    ...noopObserver,
    certificateOrder: (result) => orders.push(result),
  };
  const manager = new AcmeManager({
    config: acmeConfig(storage),
    store,
    routes: (name) => routed.includes(name),
    observer,
    checkIntervalMs: 0,
    ...options,
  });
  answering = manager;
  cleanups.push(() => manager.stop());
  return { manager, store, orders };
}

function tempStorage(): TempDir {
  const dir = makeTempDir();
  cleanups.push(() => dir.remove());
  return dir;
}

// Orders take about 100 ms each, but the machine may be busy.
setDefaultTimeout(15_000);

describe("AcmeManager with pebble", () => {
  test("routed name gets a certificate with no request", async () => {
    const { manager, store, orders } = startManager(tempStorage(), ["shop.example.org"]);
    manager.namesChanged(["shop.example.org"]);
    await manager.settled();
    expect(orders).toEqual(["issued"]);

    const listener = new HttpsListener({
      hostname: "127.0.0.1",
      port: 0,
      handler: () => new Response("ok"),
      store,
    });
    cleanups.push(() => listener.stop(true));
    const root = await pebble.issuingRoot();
    const result = await handshake(listener.port ?? 0, "shop.example.org", root);
    expect(result.subjectAltName).toBe("DNS:shop.example.org");
    expect(result.authorizationError).toBeUndefined();
    expect(result.authorized).toBe(true);
  });

  test("unrouted name causes no order", async () => {
    const { manager, store, orders } = startManager(tempStorage(), []);
    for (let attempt = 0; attempt < 3; attempt++) {
      manager.namesChanged(["nowhere.example.org"]);
      await manager.settled();
    }
    expect(orders).toEqual([]);
    expect(store.issued("nowhere.example.org")).toBeUndefined();
  });

  test("restart reuses stored certificates", async () => {
    const storage = tempStorage();
    const first = startManager(storage, ["again.example.org"]);
    first.manager.namesChanged(["again.example.org"]);
    await first.manager.settled();
    expect(first.orders).toEqual(["issued"]);
    await first.manager.stop();
    for (
      const file of [
        "account-key.pem",
        "account.json",
        "certificates/again.example.org.crt",
        "certificates/again.example.org.key",
      ]
    ) {
      expect(`${file} ${(statSync(join(storage.path, file)).mode & 0o777).toString(8)}`).toBe(
        `${file} 600`,
      );
    }

    const account = JSON.parse(readFileSync(join(storage.path, "account.json"), "utf8"));
    expect(account.directoryUrl).toBe(pebble.directoryUrl);
    expect(account.url).toStartWith(pebble.directoryUrl.replace(/\/dir$/, "/"));

    const second = startManager(storage, ["again.example.org"]);
    expect(second.store.issued("again.example.org")?.cert).toBe(
      first.store.issued("again.example.org")?.cert,
    );
    second.manager.namesChanged(["again.example.org"]);
    await second.manager.settled();
    expect(second.orders).toEqual([]);
  });

  test("restart orders with the stored account", async () => {
    const storage = tempStorage();
    const first = startManager(storage, ["account1.example.org"]);
    first.manager.namesChanged(["account1.example.org"]);
    await first.manager.settled();
    await first.manager.stop();
    const stored = readFileSync(join(storage.path, "account.json"), "utf8");

    const second = startManager(storage, ["account2.example.org"]);
    second.manager.namesChanged(["account2.example.org"]);
    await second.manager.settled();
    expect(second.orders).toEqual(["issued"]);
    expect(readFileSync(join(storage.path, "account.json"), "utf8")).toBe(stored);
  });

  test("renews once a third of lifetime is left", async () => {
    let now = Date.now();
    const { manager, store, orders } = startManager(tempStorage(), ["renew.example.org"], {
      now: () => now,
    });
    manager.namesChanged(["renew.example.org"]);
    await manager.settled();
    const issued = store.issued("renew.example.org");
    if (!issued) throw new Error("no certificate issued");
    const lifetime = issued.notAfter.getTime() - issued.notBefore.getTime();
    const renewAt = issued.notAfter.getTime() - lifetime / 3;

    now = renewAt - 60_000;
    await manager.runDue();
    expect(orders).toEqual(["issued"]);

    now = renewAt + 1;
    await manager.runDue();
    expect(orders).toEqual(["issued", "issued"]);
    expect(store.issued("renew.example.org")?.cert).not.toBe(issued.cert);
  });

  test("failed name backs off, then retries", async () => {
    let now = Date.now();
    const { manager, orders } = startManager(tempStorage(), ["fails.example.org"], {
      now: () => now,
      retryBaseMs: 60_000,
    });
    answering = undefined;
    manager.namesChanged(["fails.example.org"]);
    await manager.settled();
    expect(orders).toEqual(["failed"]);

    now += 59_000;
    await manager.runDue();
    expect(orders).toEqual(["failed"]);

    now += 2_000;
    answering = manager;
    await manager.runDue();
    expect(orders).toEqual(["failed", "issued"]);
  });

  test("hourly cap limits orders", async () => {
    let now = Date.now();
    const names = ["cap1.example.org", "cap2.example.org"];
    const { manager, store, orders } = startManager(tempStorage(), names, {
      now: () => now,
      maxOrdersPerHour: 1,
    });
    manager.namesChanged(names);
    await manager.settled();
    expect(orders).toEqual(["issued"]);
    expect(store.issued("cap2.example.org")).toBeUndefined();

    now += 60 * 60 * 1000 + 1;
    await manager.runDue();
    expect(orders).toEqual(["issued", "issued"]);
    expect(store.issued("cap2.example.org")).toBeDefined();
  });
});
