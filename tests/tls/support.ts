/** Certificates made with openssl and TLS client probes for the tls tests. */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type PeerCertificate } from "node:tls";
import { isIP } from "node:net";

export interface TempDir {
  path: string;
  remove(): void;
}

export function makeTempDir(): TempDir {
  const path = mkdtempSync(join(tmpdir(), "relight-tls-"));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/**
 * Writes a self-signed EC certificate for `names` (host names or IP
 * addresses) to `<dir>/<file>.crt` and `.key`.
 */
export function makeSelfSigned(
  dir: string,
  file: string,
  names: string[],
  days = 30,
): { certFile: string; keyFile: string } {
  const certFile = join(dir, `${file}.crt`);
  const keyFile = join(dir, `${file}.key`);
  const altNames = names.map((name) => (isIP(name) ? `IP:${name}` : `DNS:${name}`)).join(",");
  execFileSync("openssl", [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-keyout",
    keyFile,
    "-out",
    certFile,
    "-days",
    String(days),
    "-subj",
    `/CN=${names[0] ?? file}`,
    "-addext",
    `subjectAltName=${altNames}`,
  ], { stdio: "ignore" });
  return { certFile, keyFile };
}

/**
 * Writes an EC certificate for `names` that was valid only from 2020-01-01
 * to 2020-01-02 (UTC) to `<dir>/<file>.crt` and `.key`. `openssl req -x509`
 * takes no start date, so `openssl ca -selfsign` signs it with a throwaway
 * CA database in `<dir>/<file>-ca`.
 */
export function makeExpired(
  dir: string,
  file: string,
  names: string[],
): { certFile: string; keyFile: string } {
  const certFile = join(dir, `${file}.crt`);
  const keyFile = join(dir, `${file}.key`);
  const caDir = join(dir, `${file}-ca`);
  mkdirSync(caDir);
  writeFileSync(join(caDir, "index.txt"), "");
  writeFileSync(join(caDir, "serial"), "01\n");
  const caConfig = join(caDir, "ca.cnf");
  writeFileSync(
    caConfig,
    [
      "[ca]",
      "default_ca = expired",
      "[expired]",
      `database = ${join(caDir, "index.txt")}`,
      `new_certs_dir = ${caDir}`,
      `serial = ${join(caDir, "serial")}`,
      "default_md = sha256",
      "policy = any",
      "copy_extensions = copy",
      "[any]",
      "commonName = supplied",
      "",
    ].join("\n"),
  );

  const request = join(caDir, "request.csr");
  const altNames = names.map((name) => `DNS:${name}`).join(",");
  execFileSync("openssl", [
    "req",
    "-new",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-keyout",
    keyFile,
    "-out",
    request,
    "-subj",
    `/CN=${names[0] ?? file}`,
    "-addext",
    `subjectAltName=${altNames}`,
  ], { stdio: "ignore" });
  execFileSync("openssl", [
    "ca",
    "-batch",
    "-notext",
    "-selfsign",
    "-config",
    caConfig,
    "-keyfile",
    keyFile,
    "-in",
    request,
    "-out",
    certFile,
    "-startdate",
    "20200101000000Z",
    "-enddate",
    "20200102000000Z",
  ], { stdio: "ignore" });
  return { certFile, keyFile };
}

export interface HandshakeResult {
  /** Subject CN of the certificate the server sent. */
  commonName: string;
  subjectAltName: string;
  /** Whether the chain verified against the `ca` given to the probe. */
  authorized: boolean;
  authorizationError: string | undefined;
}

/** Completes a TLS handshake with `servername` as SNI and returns what the server presented. */
export function handshake(
  port: number,
  servername: string,
  ca?: string,
): Promise<HandshakeResult> {
  return new Promise((resolve, reject) => {
    const socket = connect(
      {
        host: "127.0.0.1",
        port,
        servername,
        rejectUnauthorized: false,
        ...(ca === undefined ? {} : { ca }),
      },
      () => {
        const peer: PeerCertificate = socket.getPeerCertificate();
        const error = socket.authorizationError;
        resolve({
          commonName: String(peer.subject?.CN ?? ""),
          subjectAltName: peer.subjectaltname ?? "",
          authorized: socket.authorized,
          authorizationError: error === null ? undefined : String(error),
        });
        socket.end();
      },
    );
    socket.setTimeout(
      5_000,
      () => socket.destroy(new Error(`handshake for ${servername} timed out`)),
    );
    socket.on("error", reject);
  });
}

/** Sends one GET over TLS with `servername` as SNI and Host, verifying against `ca`. */
export function httpsGet(
  port: number,
  servername: string,
  path: string,
  ca: string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port, servername, ca }, () => {
      socket.write(`GET ${path} HTTP/1.1\r\nHost: ${servername}\r\nConnection: close\r\n\r\n`);
    });
    let raw = "";
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => (raw += chunk));
    socket.on("end", () => {
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1] ?? 0);
      const body = raw.slice(raw.indexOf("\r\n\r\n") + 4);
      resolve({ status, body });
    });
    socket.setTimeout(5_000, () => socket.destroy(new Error(`GET ${path} timed out`)));
    socket.on("error", reject);
  });
}
