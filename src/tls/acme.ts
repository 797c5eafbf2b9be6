/**
 * Obtains and renews certificates over ACME (RFC 8555) with HTTP-01
 * challenges served by Relight's own HTTP listener.
 *
 * Orders are placed only for names the router says route to a VM, one at a
 * time. A failed name waits out an exponential backoff, and a global cap on
 * orders per hour keeps a misbehaving index from exhausting the CA's rate
 * limits. Certificates live in the storage directory and are reused after a
 * restart. A certificate is renewed once a third of its lifetime is left.
 */
import { Agent } from "node:https";
import type * as AcmeClient from "acme-client";
import type { AcmeConfig } from "../config/types.ts";
import { getLogger } from "../log.ts";
import { noopObserver, type Observer } from "../observe.ts";
import { readTextFileSync } from "../read-limited.ts";
import { parseCertificatePair } from "./certificate.ts";
import { ChallengeResponder } from "./http.ts";
import { AcmeStorage, isIssuableName } from "./storage.ts";
import type { CertificateStore } from "./store.ts";

const log = getLogger("acme");

const hourMs = 60 * 60 * 1000;

/** Largest `ca_bundle` file read, in bytes: a system-wide bundle is about 200 KiB. */
const maxCaBundleBytes = 16 * 1024 * 1024;

let acmeModule: Promise<typeof AcmeClient> | undefined;

/**
 * Loads acme-client on first use. Importing it adds about 35 MB of resident
 * memory on Bun 1.4.5, which a Relight that issues no certificate should not pay.
 */
function loadAcmeClient(): Promise<typeof AcmeClient> {
  acmeModule ??= import("acme-client");
  return acmeModule;
}

export interface AcmeManagerOptions {
  config: AcmeConfig;
  /** Store that receives issued certificates for the HTTPS listener. */
  store: CertificateStore;
  /** Reports whether `name` routes to a VM; no order is placed for a name that does not. */
  routes(name: string): boolean;
  observer?: Observer;
  /** Clock in ms since the epoch. Default `Date.now`. */
  now?: () => number;
  /** Orders allowed per rolling hour, failed ones included. Default 20. */
  maxOrdersPerHour?: number;
  /** Wait after a name's first failure, in ms, doubled per further failure. Default 5 min. */
  retryBaseMs?: number;
  /** Maximum wait between attempts for one name, in ms. Default 6 h. */
  retryMaxMs?: number;
  /** How often renewals and retries are checked, in ms; 0 turns the timer off. Default 5 min. */
  checkIntervalMs?: number;
}

interface Backoff {
  failures: number;
  retryAt: number;
}

export class AcmeManager {
  readonly challenges = new ChallengeResponder();
  #options: AcmeManagerOptions;
  #storage: AcmeStorage;
  #observer: Observer;
  #now: () => number;
  #names = new Set<string>();
  #backoff = new Map<string, Backoff>();
  #orderTimes: number[] = [];
  #client: AcmeClient.Client | undefined;
  #queue: Promise<void> = Promise.resolve();
  #timer: ReturnType<typeof setInterval> | undefined;
  /** Whether the storage contains the account URL of `#client`. */
  #accountStored = false;

  /**
   * Loads stored certificates into the store and starts the renewal timer.
   * Throws when the storage directory cannot be created.
   */
  constructor(options: AcmeManagerOptions) {
    this.#options = options;
    this.#storage = new AcmeStorage(options.config.storage);
    this.#observer = options.observer ?? noopObserver;
    this.#now = options.now ?? Date.now;

    const stored = this.#storage.loadCertificates();
    for (const [name, certificate] of stored) options.store.putIssued(name, certificate);
    log.info("acme started", {
      directory: options.config.directoryUrl,
      stored_certificates: stored.size,
    });

    const interval = options.checkIntervalMs ?? 5 * 60 * 1000;
    if (interval > 0) {
      this.#timer = setInterval(() => void this.runDue(), interval);
      this.#timer.unref?.();
    }
  }

  /**
   * Returns the response to an HTTP-01 challenge request, or undefined for
   * other paths. The plain HTTP listener calls this before anything else.
   */
  handleAcmeChallenge(request: Request): Response | undefined {
    return this.challenges.handle(request);
  }

  /**
   * Replaces the set of candidate names (every hostname the index routes,
   * custom domains included) and orders certificates for new ones in the
   * background.
   */
  namesChanged(names: Iterable<string>): void {
    this.#names = new Set([...names].map((name) => name.toLowerCase()));
    void this.runDue();
  }

  /**
   * Places every order that is due now: names without a certificate and
   * certificates with a third of their lifetime left, skipping names in
   * backoff and stopping at the hourly cap. Resolves when done. Runs are queued
   * and never overlap.
   */
  runDue(): Promise<void> {
    this.#queue = this.#queue.then(() => this.#runOnce()).catch((error) => {
      log.error("acme run failed", { error });
    });
    return this.#queue;
  }

  /** Resolves when every queued run has finished. */
  settled(): Promise<void> {
    return this.#queue;
  }

  /** Stops the timer; an order in progress still finishes. */
  stop(): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    return this.#queue;
  }

  /**
   * Stops serving expired certificates of names that no longer route. Such
   * a name is never renewed, but its certificate is served until it expires,
   * so a VM that is gone for a moment, or re-tagged back, needs no new order.
   * The files stay in storage and are loaded again after a restart.
   */
  #dropExpiredUnrouted(): void {
    const store = this.#options.store;
    for (const name of store.issuedNames()) {
      const certificate = store.issued(name);
      if (!certificate || certificate.notAfter.getTime() > this.#now()) continue;
      if (this.#options.routes(name)) continue;
      store.removeIssued(name);
      log.info("acme certificate dropped", {
        name,
        reason: "expired and no longer routed",
        not_after: certificate.notAfter.toISOString(),
      });
    }
  }

  /** Reports whether `name` needs an order now, ignoring the hourly cap. */
  #isDue(name: string): boolean {
    if (!isIssuableName(name)) return false;
    if (!this.#options.routes(name)) return false;
    if (this.#options.store.coveredByFile(name)) return false;

    const backoff = this.#backoff.get(name);
    if (backoff && backoff.retryAt > this.#now()) return false;

    const certificate = this.#options.store.issued(name);
    if (!certificate) return true;
    const lifetime = certificate.notAfter.getTime() - certificate.notBefore.getTime();
    return this.#now() >= certificate.notAfter.getTime() - lifetime / 3;
  }

  async #runOnce(): Promise<void> {
    this.#dropExpiredUnrouted();
    const candidates = new Set(this.#names);
    // Issued names stay candidates for renewal while they still route.
    for (const name of this.#options.store.issuedNames()) candidates.add(name);

    for (const name of [...candidates].sort()) {
      if (!this.#isDue(name)) continue;

      const hourAgo = this.#now() - hourMs;
      this.#orderTimes = this.#orderTimes.filter((time) => time > hourAgo);
      const cap = this.#options.maxOrdersPerHour ?? 20;
      if (this.#orderTimes.length >= cap) {
        log.warn("acme order cap reached", { max_orders_per_hour: cap, waiting: name });
        return;
      }

      this.#orderTimes.push(this.#now());
      await this.#order(name);
    }
  }

  async #order(name: string): Promise<void> {
    const renewal = this.#options.store.issued(name) !== undefined;
    const started = performance.now();
    log.info("acme order started", { name, renewal });

    try {
      const client = await this.#getClient();
      const acme = await loadAcmeClient();
      const keyPem = (await acme.crypto.createPrivateEcdsaKey()).toString();
      const [, csr] = await acme.crypto.createCsr({ altNames: [name] }, keyPem);
      const certPem = await client.auto({
        csr,
        ...(this.#options.config.email ? { email: this.#options.config.email } : {}),
        termsOfServiceAgreed: true,
        challengePriority: ["http-01"],
        // The CA validates the challenge itself. The client's own pre-check
        // would resolve the name through the system resolver and fetch it,
        // which fails behind NAT without hairpinning and hangs offline.
        skipChallengeVerification: true,
        challengeCreateFn: (_authz, challenge, keyAuthorization) => {
          this.challenges.set(challenge.token, keyAuthorization);
          return Promise.resolve();
        },
        challengeRemoveFn: (_authz, challenge) => {
          this.challenges.delete(challenge.token);
          return Promise.resolve();
        },
      });

      const certificate = parseCertificatePair(certPem, keyPem, {
        cert: `acme:${name}`,
        key: `acme:${name}`,
      });
      this.#storage.writeCertificate(name, certPem, keyPem);
      this.#storeAccount(client);
      this.#options.store.putIssued(name, { ...certificate, source: `acme:${name}` });
      this.#backoff.delete(name);

      const durationMs = Math.round(performance.now() - started);
      this.#observer.certificateOrder("issued", durationMs);
      log.info("acme certificate issued", {
        name,
        renewal,
        not_after: certificate.notAfter.toISOString(),
        duration_ms: durationMs,
      });
    } catch (error) {
      const failures = (this.#backoff.get(name)?.failures ?? 0) + 1;
      const base = this.#options.retryBaseMs ?? 5 * 60 * 1000;
      const max = this.#options.retryMaxMs ?? 6 * hourMs;
      const delay = Math.min(base * 2 ** (failures - 1), max);
      this.#backoff.set(name, { failures, retryAt: this.#now() + delay });

      const durationMs = Math.round(performance.now() - started);
      this.#observer.certificateOrder("failed", durationMs);
      log.warn("acme order failed", {
        name,
        renewal,
        failures,
        retry_in_ms: delay,
        duration_ms: durationMs,
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }

  #storeAccount(client: AcmeClient.Client): void {
    if (this.#accountStored) return;
    const config = this.#options.config;
    this.#storage.writeAccount({
      directoryUrl: config.directoryUrl,
      email: config.email ?? null,
      url: client.getAccountUrl(),
    });
    this.#accountStored = true;
  }

  async #getClient(): Promise<AcmeClient.Client> {
    if (this.#client) return this.#client;
    const acme = await loadAcmeClient();

    const config = this.#options.config;
    // acme-client sends every request through one shared axios instance.
    acme.axios.defaults.timeout = 30_000;
    if (config.caBundle !== undefined) {
      acme.axios.defaults.httpsAgent = new Agent({
        ca: readTextFileSync(config.caBundle, maxCaBundleBytes),
      });
    }

    let accountKey = this.#storage.readAccountKey();
    if (accountKey === undefined) {
      accountKey = (await acme.crypto.createPrivateEcdsaKey()).toString();
      this.#storage.writeAccountKey(accountKey);
      log.info("acme account key created", { storage: this.#storage.directory });
    }

    // A stored URL skips the account lookup on every restart. It is reused
    // only for the same directory and email, because `auto` sends the
    // contact email only when it registers the account.
    const email = config.email ?? null;
    const stored = this.#storage.readAccount();
    const accountUrl = stored?.directoryUrl === config.directoryUrl && stored.email === email
      ? stored.url
      : undefined;
    this.#client = new acme.Client({
      directoryUrl: config.directoryUrl,
      accountKey,
      ...(accountUrl === undefined ? {} : { accountUrl }),
    });
    this.#accountStored = accountUrl !== undefined;
    return this.#client;
  }
}
