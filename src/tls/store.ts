/**
 * The set of certificates the HTTPS listener serves: pairs from files and
 * certificates issued over ACME, with SNI selection by exact name, then
 * wildcard, then the default.
 */
import type { TlsCertificate } from "../runtime/index.ts";
import { type LoadedCertificate, nameCovers } from "./certificate.ts";

export class CertificateStore {
  #fromFiles: LoadedCertificate[];
  /** ACME certificates by the single name each was issued for. */
  #issued = new Map<string, LoadedCertificate>();
  #listeners = new Set<() => void>();

  /** `fromFiles` in config order; the first one is the default certificate. */
  constructor(fromFiles: LoadedCertificate[] = []) {
    this.#fromFiles = [...fromFiles];
  }

  /**
   * Replaces the certificates loaded from files, as on a config reload.
   * Returns false, and notifies no subscriber, when every certificate and
   * key has the same PEM text in the same order as before, because a new
   * listener would then only close idle keep-alive connections.
   */
  replaceFromFiles(certificates: LoadedCertificate[]): boolean {
    if (samePemList(certificates, this.#fromFiles)) return false;
    this.#fromFiles = [...certificates];
    this.#changed();
    return true;
  }

  /** Adds or replaces the ACME certificate for `name`. */
  putIssued(name: string, certificate: LoadedCertificate): void {
    this.#issued.set(name.toLowerCase(), certificate);
    this.#changed();
  }

  /** Removes the ACME certificate for `name`; does nothing when there is none. */
  removeIssued(name: string): void {
    if (this.#issued.delete(name.toLowerCase())) this.#changed();
  }

  /** Removes every ACME certificate, as when the ACME settings change on a reload. */
  clearIssued(): void {
    if (this.#issued.size === 0) return;
    this.#issued.clear();
    this.#changed();
  }

  /** Returns the ACME certificate stored for `name`, if any. */
  issued(name: string): LoadedCertificate | undefined {
    return this.#issued.get(name.toLowerCase());
  }

  /** Names that hold an ACME certificate. */
  issuedNames(): string[] {
    return [...this.#issued.keys()];
  }

  /** Reports whether a certificate from a file covers `name`, so ACME need not. */
  coveredByFile(name: string): boolean {
    return this.#fromFiles.some((certificate) =>
      certificate.names.some((pattern) => nameCovers(pattern, name))
    );
  }

  /** Returns the certificate served when SNI matches no name, or undefined when the store is empty. */
  defaultCertificate(): LoadedCertificate | undefined {
    return this.#fromFiles[0] ?? this.#issued.values().next().value;
  }

  /**
   * Returns the certificate a handshake for `serverName` gets: an exact name
   * (files before ACME), then a wildcard, then the default.
   */
  select(serverName: string): LoadedCertificate | undefined {
    const name = serverName.toLowerCase();
    const exact = this.#fromFiles.find((certificate) => certificate.names.includes(name)) ??
      this.#issued.get(name);
    if (exact) return exact;

    const wildcard = this.#fromFiles.find((certificate) =>
      certificate.names.some((pattern) => pattern.startsWith("*.") && nameCovers(pattern, name))
    );
    return wildcard ?? this.defaultCertificate();
  }

  /**
   * Returns the list for `runtime.serve`: the default first without a
   * server name, then one entry per covered name. Bun picks an exact server
   * name before a `*.` one and falls back to the entry without a name
   * (checked on Bun 1.4.5), which matches `select`.
   */
  serveList(): TlsCertificate[] {
    const fallback = this.defaultCertificate();
    if (!fallback) return [];

    const list: TlsCertificate[] = [{ cert: fallback.cert, key: fallback.key }];
    const seen = new Set<string>();
    const add = (name: string, certificate: LoadedCertificate) => {
      if (seen.has(name)) return;
      seen.add(name);
      list.push({ cert: certificate.cert, key: certificate.key, serverName: name });
    };
    for (const certificate of this.#fromFiles) {
      for (const name of certificate.names) add(name, certificate);
    }
    for (const [name, certificate] of this.#issued) add(name, certificate);
    return list;
  }

  /** Calls `listener` after every change; returns a function that unsubscribes. */
  subscribe(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #changed(): void {
    for (const listener of this.#listeners) listener();
  }
}

function samePemList(a: LoadedCertificate[], b: LoadedCertificate[]): boolean {
  if (a.length !== b.length) return false;
  return a.every((certificate, index) =>
    certificate.cert === b[index]?.cert && certificate.key === b[index]?.key
  );
}
