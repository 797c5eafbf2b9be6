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

/** Returns the error for a certificate whose validity ended at or before `now`, else undefined. */
function expiryError(at: string, certificate: LoadedCertificate, now: number): string | undefined {
  if (certificate.notAfter.getTime() > now) return undefined;
  const expiry = certificate.notAfter.toISOString();
  return `${at}: certificate ${certificate.source} expired at ${expiry} (renew it)`;
}

/**
 * Loads the certificate files of `tls.certificates` for serving, with the
 * checks of `relight check`. Throws `CertificateError` with the message that
 * `relight check` prints (without the file position) for the first file
 * that is unusable or expired. `now` is ms since the epoch.
 */
export function loadTlsCertificates(
  certificates: TlsConfig["certificates"],
  now: number = Date.now(),
): LoadedCertificate[] {
  return certificates.map((pair, index) => {
    const at = `tls.certificates[${index}]`;
    let certificate: LoadedCertificate;
    try {
      certificate = loadCertificateFiles(pair);
    } catch (error) {
      if (!(error instanceof CertificateError)) throw error;
      throw new CertificateError(`${at}: ${error.message}`);
    }

    const expired = expiryError(at, certificate, now);
    if (expired !== undefined) throw new CertificateError(expired);
    return certificate;
  });
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

      const expired = expiryError(at, certificate, now);
      if (expired !== undefined) {
        result.errors.push(expired);
        return;
      }
      const expiry = certificate.notAfter.toISOString();
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
