/**
 * Parsing of PEM certificate/key pairs: the names a certificate covers, its
 * validity window, and a check that the key belongs to the certificate.
 */
import { createPrivateKey, X509Certificate } from "node:crypto";
import { FileTooLargeError, NotRegularFileError, readTextFileSync } from "../read-limited.ts";

/** A parsed certificate chain with its private key, ready to serve. */
export interface LoadedCertificate {
  /** PEM of the leaf certificate followed by any intermediates. */
  cert: string;
  /** PEM of the private key. */
  key: string;
  /** DNS names from subjectAltName, lowercased; wildcards keep their `*.` prefix. */
  names: string[];
  notBefore: Date;
  notAfter: Date;
  /** Origin of the pair for messages: the certificate file path or `acme:<name>`. */
  source: string;
}

/** Raised when a certificate or key cannot be used; the message names the file. */
export class CertificateError extends Error {
  override name = "CertificateError";
}

/** Returns the DNS names of a certificate's subjectAltName, or its CN when there is none. */
function namesOf(certificate: X509Certificate): string[] {
  const altNames = certificate.subjectAltName;
  if (altNames) {
    return altNames
      .split(", ")
      .filter((entry) => entry.startsWith("DNS:"))
      .map((entry) => entry.slice("DNS:".length).toLowerCase());
  }
  const commonName = /(?:^|\n)CN=([^\n]+)/.exec(certificate.subject)?.[1];
  return commonName ? [commonName.toLowerCase()] : [];
}

/**
 * Parses a PEM chain and key and checks that the key matches the leaf.
 * Throws `CertificateError` naming `source` when either does not parse or
 * they do not belong together.
 */
export function parseCertificatePair(
  certPem: string,
  keyPem: string,
  source: { cert: string; key: string },
): LoadedCertificate {
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(certPem);
  } catch (error) {
    throw new CertificateError(
      `certificate ${source.cert}: not a PEM certificate (${(error as Error).message})`,
    );
  }

  let privateKey;
  try {
    privateKey = createPrivateKey(keyPem);
  } catch (error) {
    throw new CertificateError(
      `key ${source.key}: not an unencrypted PEM private key (${(error as Error).message})`,
    );
  }

  if (!leaf.checkPrivateKey(privateKey)) {
    throw new CertificateError(
      `key ${source.key} does not match certificate ${source.cert} (pair the key the certificate was issued for)`,
    );
  }

  const names = namesOf(leaf);
  if (names.length === 0) {
    throw new CertificateError(
      `certificate ${source.cert}: contains no DNS name (add a subjectAltName)`,
    );
  }

  return {
    cert: certPem,
    key: keyPem,
    names,
    notBefore: new Date(leaf.validFrom),
    notAfter: new Date(leaf.validTo),
    source: source.cert,
  };
}

/** Largest certificate or key file read, in bytes: any real chain is far smaller than 1 MiB. */
const maxPemBytes = 1024 * 1024;

function readPem(path: string, what: string): string {
  try {
    return readTextFileSync(path, maxPemBytes);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = error instanceof FileTooLargeError
      ? "larger than 1 MiB, so not a certificate or key file"
      : error instanceof NotRegularFileError
      ? "not a regular file"
      : code === "ENOENT"
      ? "file not found"
      : (error as Error).message;
    throw new CertificateError(`${what} ${path}: ${reason}`);
  }
}

/** Reads and parses one configured cert/key file pair. Throws `CertificateError`. */
export function loadCertificateFiles(
  pair: { certFile: string; keyFile: string },
): LoadedCertificate {
  const certPem = readPem(pair.certFile, "certificate");
  const keyPem = readPem(pair.keyFile, "key");
  return parseCertificatePair(certPem, keyPem, { cert: pair.certFile, key: pair.keyFile });
}

/** Reports whether certificate name `pattern` (exact or `*.` wildcard) covers `host`. */
export function nameCovers(pattern: string, host: string): boolean {
  const name = host.toLowerCase();
  if (!pattern.startsWith("*.")) return pattern === name;
  // A wildcard covers exactly one label (RFC 6125 section 6.4.3).
  const dot = name.indexOf(".");
  return dot > 0 && name.slice(dot + 1) === pattern.slice(2);
}
