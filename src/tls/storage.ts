/**
 * On-disk storage for ACME: the account key and one certificate/key pair per
 * name. Files are written with mode 0600 to a temporary name and renamed into
 * place, so a crash never leaves a half-written file under the real name.
 *
 * Layout under the storage directory:
 *   account-key.pem
 *   account.json              (account URL, with the directory and email it was registered for)
 *   certificates/<name>.crt   (leaf and chain, PEM)
 *   certificates/<name>.key   (private key, PEM)
 */
import { randomBytes } from "node:crypto";
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { getLogger } from "../log.ts";
import { CertificateError, type LoadedCertificate, parseCertificatePair } from "./certificate.ts";

const log = getLogger("acme");

/** Hostnames that may be used as file names: lowercase DNS labels, no wildcard. */
const storableName =
  /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$/;

/** Reports whether `name` is a fully qualified DNS hostname ACME can issue for over HTTP-01. */
export function isIssuableName(name: string): boolean {
  return storableName.test(name) && !/^[0-9.]+$/.test(name);
}

/** Writes `data` to `path` atomically with mode 0600. */
export function writeFileAtomic(path: string, data: string): void {
  const temporary = `${path}.${randomBytes(6).toString("hex")}.tmp`;
  const fd = openSync(temporary, "wx", 0o600);
  try {
    writeSync(fd, data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    renameSync(temporary, path);
  } catch (error) {
    rmSync(temporary, { force: true });
    throw error;
  }
}

/** The account URL a directory assigned to the stored account key. */
export interface StoredAccount {
  directoryUrl: string;
  /** Contact email the account was registered with, or null for none. */
  email: string | null;
  url: string;
}

function isStoredAccount(value: unknown): value is StoredAccount {
  if (typeof value !== "object" || value === null) return false;
  const record = value as Record<string, unknown>;
  return typeof record["directoryUrl"] === "string" && typeof record["url"] === "string" &&
    (record["email"] === null || typeof record["email"] === "string");
}

export class AcmeStorage {
  readonly directory: string;
  #certificates: string;

  /** Creates the directory (mode 0700) when it does not exist. */
  constructor(directory: string) {
    this.directory = directory;
    this.#certificates = join(directory, "certificates");
    mkdirSync(this.#certificates, { recursive: true, mode: 0o700 });
  }

  /** Returns the stored account key PEM, or undefined before the first account. */
  readAccountKey(): string | undefined {
    try {
      return readFileSync(join(this.directory, "account-key.pem"), "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw error;
    }
  }

  writeAccountKey(pem: string): void {
    writeFileAtomic(join(this.directory, "account-key.pem"), pem);
  }

  /**
   * Returns the stored account URL, or undefined when there is none or the
   * file is unreadable, in which case the account is looked up again.
   */
  readAccount(): StoredAccount | undefined {
    const file = join(this.directory, "account.json");
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw error;
    }
    try {
      const parsed: unknown = JSON.parse(text);
      if (isStoredAccount(parsed)) return parsed;
    } catch {
      // Reported below, like a well-formed file of the wrong shape.
    }
    log.warn("stored account ignored", { file, error: "not a valid account record" });
    return undefined;
  }

  writeAccount(account: StoredAccount): void {
    writeFileAtomic(join(this.directory, "account.json"), `${JSON.stringify(account)}\n`);
  }

  /** Stores a certificate chain and its key for `name`; the key is written first. */
  writeCertificate(name: string, certPem: string, keyPem: string): void {
    if (!isIssuableName(name)) throw new Error(`acme storage: invalid name "${name}"`);
    writeFileAtomic(join(this.#certificates, `${name}.key`), keyPem);
    writeFileAtomic(join(this.#certificates, `${name}.crt`), certPem);
  }

  /**
   * Loads every stored pair that parses and matches its key. A pair that
   * does not (for example, a crash between the key and certificate writes)
   * is logged and skipped, so its name is ordered again.
   */
  loadCertificates(): Map<string, LoadedCertificate> {
    const loaded = new Map<string, LoadedCertificate>();
    for (const file of readdirSync(this.#certificates)) {
      if (!file.endsWith(".crt")) continue;
      const name = file.slice(0, -".crt".length);
      if (!isIssuableName(name)) continue;

      const certFile = join(this.#certificates, file);
      const keyFile = join(this.#certificates, `${name}.key`);
      try {
        const certificate = parseCertificatePair(
          readFileSync(certFile, "utf8"),
          readFileSync(keyFile, "utf8"),
          { cert: certFile, key: keyFile },
        );
        loaded.set(name, { ...certificate, source: `acme:${name}` });
      } catch (error) {
        const reason = error instanceof CertificateError ? error.message : String(error);
        log.warn("stored certificate skipped", { name, error: reason });
      }
    }
    return loaded;
  }
}
