import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type Config,
  ConfigError,
  defaultConfig,
  formatEffectiveConfig,
  loadConfig,
  parseConfig,
} from "../../src/config/index.ts";
import { assertExcludes, assertIncludes, assertStartsWith, CaseCollector } from "./collect.ts";

const collector = new CaseCollector("config loading");
const { describe, test } = collector;

const dir = mkdtempSync(join(tmpdir(), "relight-config-"));

const SLICER = "slicer:\n  url: /run/slicer.sock\n";

function load(text: string, env: Record<string, string> = {}): Config {
  return parseConfig(text, { file: "relight.yaml", env, baseDir: "/etc/relight" });
}

describe("config defaults", () => {
  const config = load(SLICER);

  test("listeners", () => {
    assert.deepEqual(config.listen, { hostname: "127.0.0.1", port: 8080 });
    assert.equal(config.ask, undefined);
    assert.equal(config.admin, undefined);
    assert.equal(config.tls, undefined);
  });

  test("durations in ms", () => {
    assert.equal(config.slicer.requestTimeoutMs, 10_000);
    assert.equal(config.watchIntervalMs, 30_000);
    assert.equal(config.refreshIntervalMs, 5_000);
    assert.equal(config.shutdownTimeoutMs, 30_000);
    assert.equal(config.responseTimeoutMs, 300_000);
  });

  test("site settings", () => {
    assert.deepEqual(config.defaults, {
      hostGroup: "apps",
      idleTimeoutMs: 300_000,
      wakeTimeoutMs: 30_000,
      appPort: 8080,
    });
  });

  test("implicit site without sites", () => {
    assert.equal(config.sites.length, 1);
    assert.deepEqual(config.sites[0]?.match, { kind: "implicit" });
    assert.equal(config.sites[0]?.hostGroup, "apps");
  });

  test("log and proxies", () => {
    assert.deepEqual(config.log, { level: "info", format: "text", access: false });
    assert.deepEqual(config.trustedProxies, []);
  });

  test("unix socket url", () => {
    assert.equal(config.slicer.url, "unix:/run/slicer.sock");
    assert.equal(config.slicer.socketPath, "/run/slicer.sock");
    assert.equal(config.slicer.token, undefined);
  });

  test("defaultConfig matches a minimal file", () => {
    assert.deepEqual(defaultConfig("/run/slicer.sock"), { ...config, file: "<defaults>" });
  });
});

describe("config values", () => {
  test("Go-style durations", () => {
    const config = load(
      `${SLICER}defaults:\n  idle_timeout: 1h30m\n  wake_timeout: 1.5s\nshutdown_timeout: 0s\nwatch_interval: 2m10s\n`,
    );
    assert.equal(config.defaults.idleTimeoutMs, 5_400_000);
    assert.equal(config.defaults.wakeTimeoutMs, 1_500);
    assert.equal(config.shutdownTimeoutMs, 0);
    assert.equal(config.watchIntervalMs, 130_000);
  });

  test("response_timeout values", () => {
    assert.equal(load(`${SLICER}response_timeout: 90s\n`).responseTimeoutMs, 90_000);
    assert.equal(load(`${SLICER}response_timeout: 1s\n`).responseTimeoutMs, 1_000);
  });

  test("http slicer url loses trailing slash", () => {
    const config = load("slicer:\n  url: http://127.0.0.1:8081/\n");
    assert.equal(config.slicer.url, "http://127.0.0.1:8081");
    assert.equal(config.slicer.socketPath, undefined);
  });

  test("unix: prefix and tilde", () => {
    const config = load("slicer:\n  url: unix:~/slicer.sock\n", { HOME: "/home/ops" });
    assert.equal(config.slicer.socketPath, "/home/ops/slicer.sock");
  });

  test("relative paths start at the file", () => {
    const config = load(
      `${SLICER}tls:\n  certificates:\n    - {cert_file: a.crt, key_file: a.key}\n`,
    );
    assert.deepEqual(config.tls?.certificates, [
      { certFile: "/etc/relight/a.crt", keyFile: "/etc/relight/a.key" },
    ]);
  });

  test("listen forms", () => {
    assert.deepEqual(load(`${SLICER}listen: ":80"\n`).listen, { hostname: "0.0.0.0", port: 80 });
    assert.deepEqual(load(`${SLICER}listen: "[::1]:8080"\n`).listen, {
      hostname: "::1",
      port: 8080,
    });
    assert.deepEqual(load(`${SLICER}listen: localhost:0\n`).listen, {
      hostname: "localhost",
      port: 0,
    });
  });

  test("listen hostnames", () => {
    for (const hostname of ["my-host.example", "host1", "10.0.0.1", "1.2.3.example"]) {
      assert.deepEqual(load(`${SLICER}listen: "${hostname}:80"\n`).listen, { hostname, port: 80 });
    }
  });

  test("durations at their maximum", () => {
    const config = load(
      [
        "slicer:\n  url: /run/slicer.sock\n  request_timeout: 1h\n",
        "watch_interval: 24h\nrefresh_interval: 24h\nshutdown_timeout: 24h\n",
        "response_timeout: 24h\n",
        "defaults:\n  idle_timeout: 576h\n  wake_timeout: 1h\n",
      ].join(""),
    );
    assert.equal(config.slicer.requestTimeoutMs, 3_600_000);
    assert.equal(config.watchIntervalMs, 86_400_000);
    assert.equal(config.refreshIntervalMs, 86_400_000);
    assert.equal(config.shutdownTimeoutMs, 86_400_000);
    assert.equal(config.responseTimeoutMs, 86_400_000);
    assert.equal(config.defaults.idleTimeoutMs, 2_073_600_000);
    assert.equal(config.defaults.wakeTimeoutMs, 3_600_000);
  });

  test("site patterns and overrides", () => {
    const config = load(
      [
        SLICER,
        "defaults:\n  app_port: 3000\n",
        "sites:\n",
        '  - match: "*.Apps.Example.com."\n',
        "    host_group: web\n",
        "    idle_timeout: 10m\n",
        "  - match: myapp.com\n",
        "    app_port: 9000\n",
        '  - match: "*"\n',
      ].join(""),
    );
    const [wildcard, exact, any] = config.sites;

    assert.equal(wildcard?.pattern, "*.apps.example.com");
    assert.deepEqual(wildcard?.match, { kind: "wildcard", suffix: "apps.example.com" });
    assert.equal(wildcard?.hostGroup, "web");
    assert.equal(wildcard?.idleTimeoutMs, 600_000);
    assert.equal(wildcard?.appPort, 3000);

    assert.deepEqual(exact?.match, { kind: "exact", hostname: "myapp.com" });
    assert.equal(exact?.appPort, 9000);
    assert.equal(exact?.hostGroup, "apps");

    assert.deepEqual(any?.match, { kind: "exact-any" });
  });

  test("trusted proxies", () => {
    const config = load(`${SLICER}trusted_proxies: [10.0.0.1, 10.0.0.0/8, "::1", "fd00::/8"]\n`);
    assert.deepEqual(config.trustedProxies, ["10.0.0.1", "10.0.0.0/8", "::1", "fd00::/8"]);
  });

  test("admin token on public address", () => {
    const config = load(`${SLICER}admin:\n  listen: 0.0.0.0:9090\n  token: secret\n`);
    assert.deepEqual(config.admin, {
      listen: { hostname: "0.0.0.0", port: 9090 },
      token: "secret",
    });
  });

  test("listeners on distinct addresses", () => {
    const config = load(
      `${SLICER}listen: localhost:8080\nask:\n  listen: 127.0.0.2:8080\nadmin:\n  listen: "[::1]:9090"\ntls:\n  listen: 127.0.0.1:9090\n  acme: {}\n`,
    );
    assert.equal(config.ask?.listen.hostname, "127.0.0.2");
    assert.equal(config.admin?.listen.hostname, "::1");
    assert.equal(config.tls?.listen.hostname, "127.0.0.1");
  });

  test("admin default listen", () => {
    const config = load(`${SLICER}admin: {}\n`);
    assert.deepEqual(config.admin, { listen: { hostname: "127.0.0.1", port: 9090 } });
  });

  test("tls with acme staging", () => {
    const config = load(
      `${SLICER}tls:\n  acme:\n    email: ops@example.com\n    staging: true\n  hsts: true\n  redirect_http: true\n`,
    );
    assert.deepEqual(config.tls?.listen, { hostname: "0.0.0.0", port: 443 });
    assert.equal(
      config.tls?.acme?.directoryUrl,
      "https://acme-staging-v02.api.letsencrypt.org/directory",
    );
    assert.equal(config.tls?.acme?.storage, "/etc/relight/.relight/acme");
    assert.equal(config.tls?.acme?.email, "ops@example.com");
    assert.equal(config.tls?.hstsMaxAgeSeconds, 31_536_000);
    assert.equal(config.tls?.redirectHttp, true);
  });

  test("acme email with short domains", () => {
    for (const email of ["a@b.c", "ops@localhost", "first.last+relight@example.co.uk"]) {
      const config = load(`${SLICER}tls:\n  acme:\n    email: ${email}\n`);
      assert.equal(config.tls?.acme?.email, email);
    }
  });

  test("empty mapping keeps defaults", () => {
    const config = load(`${SLICER}defaults:\nlog:\n`);
    assert.equal(config.defaults.hostGroup, "apps");
    assert.equal(config.log.level, "info");
  });
});

describe("config environment expansion", () => {
  test("variable and default", () => {
    const yaml = "slicer:\n  url: ${URL}\n  token: ${TOKEN:-fallback}\n";
    const config = load(yaml, { URL: "http://127.0.0.1:1234" });
    assert.equal(config.slicer.url, "http://127.0.0.1:1234");
    assert.equal(config.slicer.token, "fallback");
  });

  test("empty variable takes default", () => {
    const config = load("slicer:\n  url: ${URL:-/run/s.sock}\n", { URL: "" });
    assert.equal(config.slicer.socketPath, "/run/s.sock");
  });

  test("Caddy form inside text", () => {
    const config = load(`${SLICER}defaults:\n  host_group: "{env.TEAM}-apps"\n`, { TEAM: "web" });
    assert.equal(config.defaults.hostGroup, "web-apps");
  });

  test("plain value becomes a number", () => {
    const config = load(`${SLICER}defaults:\n  app_port: \${PORT}\n`, { PORT: "3000" });
    assert.equal(config.defaults.appPort, 3000);
  });

  test("quoted value stays text", () => {
    const yaml = `${SLICER}defaults:\n  app_port: "\${PORT}"\n`;
    assert.throws(() => load(yaml, { PORT: "3000" }), (error: Error) =>
      error.message.includes(
        'defaults.app_port: "3000" is not a port number',
      ));
  });

  test("escaped reference stays literal", () => {
    const config = load(`${SLICER}defaults:\n  host_group: a$\${B}\n`);
    assert.equal(config.defaults.hostGroup, "a${B}");
  });

  test("empty token means none", () => {
    const config = load("slicer:\n  url: /s.sock\n  token: ${TOKEN:-}\n");
    assert.equal(config.slicer.token, undefined);
  });
});

describe("config token file", () => {
  test("read with trailing newline trimmed", () => {
    const path = join(dir, "token");
    writeFileSync(path, "s3cret\n");
    const config = load(`slicer:\n  url: /s.sock\n  token_file: ${path}\n`);
    assert.equal(config.slicer.token, "s3cret");
    assert.equal(config.slicer.tokenFile, path);
  });

  test("empty file is an error", () => {
    const path = join(dir, "empty-token");
    writeFileSync(path, "\n");
    assert.throws(
      () => load(`slicer:\n  url: /s.sock\n  token_file: ${path}\n`),
      (error: Error) =>
        error.message.includes(
          `slicer.token_file: "${path}" is empty (it must contain the token)`,
        ),
    );
  });
});

describe("config token file checks", () => {
  test("token with space is an error", () => {
    const path = join(dir, "spaced-token");
    writeFileSync(path, "hunter 2\n");
    let message = "";
    try {
      load(`slicer:\n  url: /s.sock\n  token_file: ${path}\n`);
    } catch (error) {
      message = (error as Error).message;
    }
    assertIncludes(message, `slicer.token_file: the token in "${path}" contains a space`);
    assertExcludes(message, "hunter");
  });
});

describe("loadConfig", () => {
  test("missing file", async () => {
    const path = join(dir, "absent.yaml");
    const error = await loadConfig(path, {}).catch((caught: unknown) => caught);
    assert.ok(error instanceof ConfigError);
    assert.deepEqual((error as ConfigError).messages, [
      `${path}: config file not found (pass --config FILE to use another file)`,
    ]);
  });

  test("device is not read", async () => {
    const error = await loadConfig("/dev/zero", {}).catch((caught: unknown) => caught);
    assert.ok(error instanceof ConfigError);
    assert.deepEqual((error as ConfigError).messages, [
      "/dev/zero: is not a regular file (a FIFO, socket or device cannot be a config file)",
    ]);
  });

  test("FIFO without a writer is not opened", async () => {
    const path = join(dir, "config.fifo");
    execFileSync("mkfifo", [path]);
    const error = await loadConfig(path, {}).catch((caught: unknown) => caught);
    assert.deepEqual((error as ConfigError).messages, [
      `${path}: is not a regular file (a FIFO, socket or device cannot be a config file)`,
    ]);
  });

  test("file of 1 MiB plus one byte", async () => {
    const path = join(dir, "large.yaml");
    writeFileSync(path, `slicer:\n  url: /s.sock\n#${"x".repeat(1024 * 1024)}\n`);
    const error = await loadConfig(path, {}).catch((caught: unknown) => caught);
    assert.deepEqual((error as ConfigError).messages, [
      `${path}: config file is larger than 1 MiB (check that it is the right file)`,
    ]);
  });

  test("names the file as given", async () => {
    const path = join(dir, "named.yaml");
    writeFileSync(path, "slicer:\n  url: /s.sock\nlisten: 1\n");
    const error = await loadConfig(path, {}).catch((caught: unknown) => caught);
    assertStartsWith((error as ConfigError).messages[0], `${path}:3:9: listen: 1 is not`);
  });

  test("example relight.yaml loads", async () => {
    const config = await loadConfig("relight.yaml", { HOME: "/home/ops" });
    assert.equal(config.slicer.socketPath, "/home/ops/slicer-mac/slicer.sock");
    assert.deepEqual(config.sites.map((site) => site.pattern), ["*.localhost", "*"]);
  });
});

describe("formatEffectiveConfig", () => {
  const full = [
    "listen: 127.0.0.1:8080",
    "slicer:",
    "  url: http://127.0.0.1:8081",
    "  token: very-secret-token",
    "  request_timeout: 5s",
    "watch_interval: 45s",
    "refresh_interval: 2s",
    "defaults:",
    "  host_group: web",
    "  idle_timeout: 1h30m",
    "sites:",
    '  - match: "*.apps.example.com"',
    "    app_port: 3000",
    '  - match: "*"',
    "trusted_proxies: [10.0.0.0/8]",
    "shutdown_timeout: 0s",
    "ask: {listen: 127.0.0.1:5555}",
    "admin:",
    "  listen: 0.0.0.0:9090",
    "  token: admin-secret",
    "log: {level: debug, format: json, access: true}",
    "tls:",
    "  listen: 127.0.0.1:8443",
    "  certificates: [{cert_file: /c.pem, key_file: /k.pem}]",
    "  acme: {email: ops@example.com, ca_bundle: /ca.pem, storage: /var/lib/relight}",
    "  hsts: 24h",
    "",
  ].join("\n");

  test("redacts every token", () => {
    const output = formatEffectiveConfig(load(full));
    assertExcludes(output, "very-secret-token");
    assertExcludes(output, "admin-secret");
    assertIncludes(output, "token: <redacted>");
  });

  test("round-trips to the same config", () => {
    const config = load(full);
    const again = load(formatEffectiveConfig(config));
    assert.deepEqual(again, {
      ...config,
      slicer: { ...config.slicer, token: "<redacted>" },
      admin: { listen: { hostname: "0.0.0.0", port: 9090 }, token: "<redacted>" },
    });
  });

  test("round-trips implicit site", () => {
    const config = load(SLICER);
    assert.deepEqual(load(formatEffectiveConfig(config)), config);
  });

  test("round-trips token file and literal dollar", () => {
    const path = join(dir, "round-trip-token");
    writeFileSync(path, "abc\n");
    const config = load(
      `slicer:\n  url: /s.sock\n  token_file: ${path}\ndefaults:\n  host_group: a$\${B}\n`,
    );
    const output = formatEffectiveConfig(config);
    assertIncludes(output, `token_file: ${path}`);
    assertExcludes(output, "abc");
    assert.deepEqual(load(output), config);
  });
});

export const configLoadCases = collector.group({
  afterAll: () => rmSync(dir, { recursive: true, force: true }),
});
