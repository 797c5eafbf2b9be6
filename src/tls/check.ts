/**
 * The `tls` part of `relight check`. Every configured certificate file must
 * exist, parse and match its key. The summary lists the names each
 * certificate covers and when it expires.
 */
import { accessSync, constants, existsSync, statSync } from "node:fs";
import { dirname } from "node:path";
import type { TlsConfig } from "../config/types.ts";
import { CertificateError, loadCertificateFiles, type LoadedCertificate } from "./certificate.ts";

function nearestExistingFolder(path: string): string {
  let current = path;
  while (!existsSync(current)) {
    const parent = dirname(current);
    if (parent === current) break;
    current = parent;
  }
  return current;
}

export interface TlsCheckResult {
  /** One message per problem; empty when the block is usable. */
  errors: string[];
  /** One line per usable certificate: file, names, expiry. */
  summary: string[];
  certificates: LoadedCertificate[];
}

/** Checks the certificate files and ACME settings of a `tls` block. `now` is ms since the epoch. */
export function checkTlsConfig(tls: TlsConfig, now: number = Date.now()): TlsCheckResult {
  const result: TlsCheckResult = { errors: [], summary: [], certificates: [] };

  tls.certificates.forEach((pair, index) => {
    const at = `tls.certificates[${index}]`;
    try {
      const certificate = loadCertificateFiles(pair);
      result.certificates.push(certificate);

      const expiry = certificate.notAfter.toISOString();
      if (certificate.notAfter.getTime() <= now) {
        result.errors.push(`${at}: certificate ${pair.certFile} expired at ${expiry} (renew it)`);
        return;
      }
      result.summary.push(
        `${pair.certFile}: ${certificate.names.join(", ")} (expires ${expiry})`,
      );
    } catch (error) {
      if (!(error instanceof CertificateError)) throw error;
      result.errors.push(`${at}: ${error.message}`);
    }
  });

  if (tls.acme) {
    const storage = tls.acme.storage;
    // Relight creates missing folders of the storage path, so the nearest one
    // that exists is the one that must be writable.
    const existing = nearestExistingFolder(storage);
    if (!statSync(existing).isDirectory()) {
      result.errors.push(`tls.acme.storage: ${storage}: ${existing} is not a folder`);
    } else {
      try {
        accessSync(existing, constants.W_OK);
      } catch {
        result.errors.push(
          `tls.acme.storage: ${storage} is not writable (create it or fix its owner)`,
        );
      }
    }
    if (tls.acme.caBundle !== undefined && !existsSync(tls.acme.caBundle)) {
      result.errors.push(`tls.acme.ca_bundle: ${tls.acme.caBundle}: file not found`);
    }
  }

  if (tls.certificates.length === 0 && !tls.acme) {
    result.errors.push("tls: no certificates and no acme block (add one or the other)");
  }
  return result;
}
