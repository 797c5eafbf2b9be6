import { afterAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { TlsConfig } from "../../src/config/types.ts";
import { loadCertificateFiles, nameCovers } from "../../src/tls/certificate.ts";
import { checkTlsConfig } from "../../src/tls/check.ts";
import { CertificateStore } from "../../src/tls/store.ts";
import { makeSelfSigned, makeTempDir } from "./support.ts";

const dir = makeTempDir();
afterAll(() => dir.remove());

const wildcard = makeSelfSigned(dir.path, "wildcard", ["*.apps.example.com"]);
const exact = makeSelfSigned(dir.path, "exact", ["shop.example.com", "www.shop.example.com"]);
const fallback = makeSelfSigned(dir.path, "fallback", ["fallback.example.com"]);

function tlsConfig(certificates: TlsConfig["certificates"]): TlsConfig {
  return { listen: { hostname: "127.0.0.1", port: 0 }, certificates, redirectHttp: false };
}

function acmeConfig(storage: string): TlsConfig {
  return {
    ...tlsConfig([]),
    acme: { directoryUrl: "https://127.0.0.1:14000/dir", storage },
  };
}

describe("checkTlsConfig", () => {
  test("summary lists names and expiry", () => {
    const result = checkTlsConfig(tlsConfig([wildcard, exact]));
    expect(result.errors).toEqual([]);
    expect(result.summary).toHaveLength(2);
    expect(result.summary[0]).toContain("*.apps.example.com");
    expect(result.summary[1]).toContain("shop.example.com, www.shop.example.com");
    expect(result.summary[1]).toMatch(/expires \d{4}-\d\d-\d\dT/);
  });

  test("missing file is an error", () => {
    const missing = join(dir.path, "missing.crt");
    const result = checkTlsConfig(tlsConfig([{ certFile: missing, keyFile: wildcard.keyFile }]));
    expect(result.errors).toEqual([
      `tls.certificates[0]: certificate ${missing}: file not found`,
    ]);
  });

  test("device as key file is an error", () => {
    const result = checkTlsConfig(
      tlsConfig([{ certFile: wildcard.certFile, keyFile: "/dev/zero" }]),
    );
    expect(result.errors).toEqual([
      "tls.certificates[0]: key /dev/zero: not a regular file",
    ]);
  });

  test("unparsable certificate is an error", () => {
    const garbage = join(dir.path, "garbage.crt");
    writeFileSync(garbage, "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n");
    const result = checkTlsConfig(tlsConfig([{ certFile: garbage, keyFile: wildcard.keyFile }]));
    expect(result.errors).toHaveLength(1);
    expect(result.errors[0]).toStartWith(
      `tls.certificates[0]: certificate ${garbage}: not a PEM certificate`,
    );
  });

  test("unparsable key is an error", () => {
    const garbage = join(dir.path, "garbage.key");
    writeFileSync(garbage, "hello\n");
    const result = checkTlsConfig(tlsConfig([{ certFile: wildcard.certFile, keyFile: garbage }]));
    expect(result.errors).toHaveLength(1);
    expect(result.errors[0]).toStartWith(`tls.certificates[0]: key ${garbage}: not an unencrypted`);
  });

  test("mismatched key is an error", () => {
    const result = checkTlsConfig(
      tlsConfig([{ certFile: wildcard.certFile, keyFile: exact.keyFile }]),
    );
    expect(result.errors).toEqual([
      `tls.certificates[0]: key ${exact.keyFile} does not match certificate ${wildcard.certFile} (pair the key the certificate was issued for)`,
    ]);
  });

  test("expired certificate is an error", () => {
    const later = Date.now() + 365 * 24 * 3600 * 1000;
    const result = checkTlsConfig(tlsConfig([wildcard]), later);
    expect(result.errors).toHaveLength(1);
    expect(result.errors[0]).toContain("expired at");
  });

  test("missing acme storage folders are allowed", () => {
    const storage = join(dir.path, "not-yet", "acme");
    const result = checkTlsConfig(acmeConfig(storage));
    expect(result.errors).toEqual([]);
  });

  test("acme storage under a file is an error", () => {
    const file = join(dir.path, "plain-file");
    writeFileSync(file, "");
    const storage = join(file, "acme");
    const result = checkTlsConfig(acmeConfig(storage));
    expect(result.errors).toEqual([`tls.acme.storage: ${storage}: ${file} is not a folder`]);
  });

  test("no certificates and no acme is an error", () => {
    const result = checkTlsConfig(tlsConfig([]));
    expect(result.errors).toEqual([
      "tls: no certificates and no acme block (add one or the other)",
    ]);
  });
});

describe("nameCovers", () => {
  const cases: [string, string, boolean][] = [
    ["*.apps.example.com", "a.apps.example.com", true],
    ["*.apps.example.com", "A.Apps.Example.com", true],
    ["*.apps.example.com", "a.b.apps.example.com", false],
    ["*.apps.example.com", "apps.example.com", false],
    ["shop.example.com", "shop.example.com", true],
    ["shop.example.com", "x.shop.example.com", false],
  ];
  for (const [pattern, host, expected] of cases) {
    test(`${pattern} covers ${host}: ${expected}`, () => {
      expect(nameCovers(pattern, host)).toBe(expected);
    });
  }
});

describe("CertificateStore", () => {
  const store = new CertificateStore([
    loadCertificateFiles(fallback),
    loadCertificateFiles(wildcard),
    loadCertificateFiles(exact),
  ]);

  test("select prefers exact, then wildcard, then default", () => {
    expect(store.select("shop.example.com")?.names).toContain("shop.example.com");
    expect(store.select("myapp.apps.example.com")?.names).toEqual(["*.apps.example.com"]);
    expect(store.select("unknown.test")?.names).toEqual(["fallback.example.com"]);
  });

  test("issued certificate beats wildcard for its name", () => {
    const issued = makeSelfSigned(dir.path, "issued", ["custom.apps.example.com"]);
    const local = new CertificateStore([loadCertificateFiles(wildcard)]);
    local.putIssued("custom.apps.example.com", loadCertificateFiles(issued));
    expect(local.select("custom.apps.example.com")?.names).toEqual(["custom.apps.example.com"]);
    expect(local.select("other.apps.example.com")?.names).toEqual(["*.apps.example.com"]);
  });

  test("serveList puts the default first without a name", () => {
    const list = store.serveList();
    expect(list[0]?.serverName).toBeUndefined();
    expect(list.map((entry) => entry.serverName).slice(1)).toEqual([
      "fallback.example.com",
      "*.apps.example.com",
      "shop.example.com",
      "www.shop.example.com",
    ]);
  });

  test("coveredByFile follows wildcards", () => {
    expect(store.coveredByFile("myapp.apps.example.com")).toBe(true);
    expect(store.coveredByFile("custom.example.org")).toBe(false);
  });

  test("empty store serves nothing", () => {
    expect(new CertificateStore().serveList()).toEqual([]);
  });
});
