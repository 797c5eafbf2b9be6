import { afterAll, describe, expect, test } from "bun:test";
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

const dir = mkdtempSync(join(tmpdir(), "relight-config-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SLICER = "slicer:\n  url: /run/slicer.sock\n";

function load(text: string, env: Record<string, string> = {}): Config {
  return parseConfig(text, { file: "relight.yaml", env, baseDir: "/etc/relight" });
}

describe("config defaults", () => {
  const config = load(SLICER);

  test("listeners", () => {
    expect(config.listen).toEqual({ hostname: "127.0.0.1", port: 8080 });
    expect(config.ask).toBeUndefined();
    expect(config.admin).toBeUndefined();
    expect(config.tls).toBeUndefined();
  });

  test("durations in ms", () => {
    expect(config.slicer.requestTimeoutMs).toBe(10_000);
    expect(config.watchIntervalMs).toBe(30_000);
    expect(config.refreshIntervalMs).toBe(5_000);
    expect(config.shutdownTimeoutMs).toBe(30_000);
  });

  test("site settings", () => {
    expect(config.defaults).toEqual({
      hostGroup: "apps",
      idleTimeoutMs: 300_000,
      wakeTimeoutMs: 30_000,
      appPort: 8080,
    });
  });

  test("implicit site without sites", () => {
    expect(config.sites).toHaveLength(1);
    expect(config.sites[0]?.match).toEqual({ kind: "implicit" });
    expect(config.sites[0]?.hostGroup).toBe("apps");
  });

  test("log and proxies", () => {
    expect(config.log).toEqual({ level: "info", format: "text", access: false });
    expect(config.trustedProxies).toEqual([]);
  });

  test("unix socket url", () => {
    expect(config.slicer.url).toBe("unix:/run/slicer.sock");
    expect(config.slicer.socketPath).toBe("/run/slicer.sock");
    expect(config.slicer.token).toBeUndefined();
  });

  test("defaultConfig matches a minimal file", () => {
    expect(defaultConfig("/run/slicer.sock")).toEqual({ ...config, file: "<defaults>" });
  });
});

describe("config values", () => {
  test("Go-style durations", () => {
    const config = load(
      `${SLICER}defaults:\n  idle_timeout: 1h30m\n  wake_timeout: 1.5s\nshutdown_timeout: 0s\nwatch_interval: 2m10s\n`,
    );
    expect(config.defaults.idleTimeoutMs).toBe(5_400_000);
    expect(config.defaults.wakeTimeoutMs).toBe(1_500);
    expect(config.shutdownTimeoutMs).toBe(0);
    expect(config.watchIntervalMs).toBe(130_000);
  });

  test("http slicer url loses trailing slash", () => {
    const config = load("slicer:\n  url: http://127.0.0.1:8081/\n");
    expect(config.slicer.url).toBe("http://127.0.0.1:8081");
    expect(config.slicer.socketPath).toBeUndefined();
  });

  test("unix: prefix and tilde", () => {
    const config = load("slicer:\n  url: unix:~/slicer.sock\n", { HOME: "/home/ops" });
    expect(config.slicer.socketPath).toBe("/home/ops/slicer.sock");
  });

  test("relative paths start at the file", () => {
    const config = load(
      `${SLICER}tls:\n  certificates:\n    - {cert_file: a.crt, key_file: a.key}\n`,
    );
    expect(config.tls?.certificates).toEqual([
      { certFile: "/etc/relight/a.crt", keyFile: "/etc/relight/a.key" },
    ]);
  });

  test("listen forms", () => {
    expect(load(`${SLICER}listen: ":80"\n`).listen).toEqual({ hostname: "0.0.0.0", port: 80 });
    expect(load(`${SLICER}listen: "[::1]:8080"\n`).listen).toEqual({ hostname: "::1", port: 8080 });
    expect(load(`${SLICER}listen: localhost:0\n`).listen).toEqual({
      hostname: "localhost",
      port: 0,
    });
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

    expect(wildcard?.pattern).toBe("*.apps.example.com");
    expect(wildcard?.match).toEqual({ kind: "wildcard", suffix: "apps.example.com" });
    expect(wildcard?.hostGroup).toBe("web");
    expect(wildcard?.idleTimeoutMs).toBe(600_000);
    expect(wildcard?.appPort).toBe(3000);

    expect(exact?.match).toEqual({ kind: "exact", hostname: "myapp.com" });
    expect(exact?.appPort).toBe(9000);
    expect(exact?.hostGroup).toBe("apps");

    expect(any?.match).toEqual({ kind: "exact-any" });
  });

  test("trusted proxies", () => {
    const config = load(`${SLICER}trusted_proxies: [10.0.0.1, 10.0.0.0/8, "::1", "fd00::/8"]\n`);
    expect(config.trustedProxies).toEqual(["10.0.0.1", "10.0.0.0/8", "::1", "fd00::/8"]);
  });

  test("admin token on public address", () => {
    const config = load(`${SLICER}admin:\n  listen: 0.0.0.0:9090\n  token: secret\n`);
    expect(config.admin).toEqual({ listen: { hostname: "0.0.0.0", port: 9090 }, token: "secret" });
  });

  test("admin default listen", () => {
    const config = load(`${SLICER}admin: {}\n`);
    expect(config.admin).toEqual({ listen: { hostname: "127.0.0.1", port: 9090 } });
  });

  test("tls with acme staging", () => {
    const config = load(
      `${SLICER}tls:\n  acme:\n    email: ops@example.com\n    staging: true\n  hsts: true\n  redirect_http: true\n`,
    );
    expect(config.tls?.listen).toEqual({ hostname: "0.0.0.0", port: 443 });
    expect(config.tls?.acme?.directoryUrl).toBe(
      "https://acme-staging-v02.api.letsencrypt.org/directory",
    );
    expect(config.tls?.acme?.storage).toBe("/etc/relight/.relight/acme");
    expect(config.tls?.acme?.email).toBe("ops@example.com");
    expect(config.tls?.hstsMaxAgeSeconds).toBe(31_536_000);
    expect(config.tls?.redirectHttp).toBe(true);
  });

  test("empty mapping keeps defaults", () => {
    const config = load(`${SLICER}defaults:\nlog:\n`);
    expect(config.defaults.hostGroup).toBe("apps");
    expect(config.log.level).toBe("info");
  });
});

describe("config environment expansion", () => {
  test("variable and default", () => {
    const yaml = "slicer:\n  url: ${URL}\n  token: ${TOKEN:-fallback}\n";
    const config = load(yaml, { URL: "http://127.0.0.1:1234" });
    expect(config.slicer.url).toBe("http://127.0.0.1:1234");
    expect(config.slicer.token).toBe("fallback");
  });

  test("empty variable takes default", () => {
    const config = load("slicer:\n  url: ${URL:-/run/s.sock}\n", { URL: "" });
    expect(config.slicer.socketPath).toBe("/run/s.sock");
  });

  test("Caddy form inside text", () => {
    const config = load(`${SLICER}defaults:\n  host_group: "{env.TEAM}-apps"\n`, { TEAM: "web" });
    expect(config.defaults.hostGroup).toBe("web-apps");
  });

  test("plain value becomes a number", () => {
    const config = load(`${SLICER}defaults:\n  app_port: \${PORT}\n`, { PORT: "3000" });
    expect(config.defaults.appPort).toBe(3000);
  });

  test("quoted value stays text", () => {
    const yaml = `${SLICER}defaults:\n  app_port: "\${PORT}"\n`;
    expect(() => load(yaml, { PORT: "3000" })).toThrow(
      'defaults.app_port: "3000" is not a port number',
    );
  });

  test("escaped reference stays literal", () => {
    const config = load(`${SLICER}defaults:\n  host_group: a$\${B}\n`);
    expect(config.defaults.hostGroup).toBe("a${B}");
  });

  test("empty token means none", () => {
    const config = load("slicer:\n  url: /s.sock\n  token: ${TOKEN:-}\n");
    expect(config.slicer.token).toBeUndefined();
  });
});

describe("config token file", () => {
  test("read with trailing newline trimmed", () => {
    const path = join(dir, "token");
    writeFileSync(path, "s3cret\n");
    const config = load(`slicer:\n  url: /s.sock\n  token_file: ${path}\n`);
    expect(config.slicer.token).toBe("s3cret");
    expect(config.slicer.tokenFile).toBe(path);
  });

  test("empty file is an error", () => {
    const path = join(dir, "empty-token");
    writeFileSync(path, "\n");
    expect(() => load(`slicer:\n  url: /s.sock\n  token_file: ${path}\n`)).toThrow(
      `slicer.token_file: "${path}" is empty (it must contain the token)`,
    );
  });
});

describe("loadConfig", () => {
  test("missing file", async () => {
    const path = join(dir, "absent.yaml");
    const error = await loadConfig(path, {}).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).messages).toEqual([
      `${path}: config file not found (pass --config FILE to use another file)`,
    ]);
  });

  test("names the file as given", async () => {
    const path = join(dir, "named.yaml");
    writeFileSync(path, "slicer:\n  url: /s.sock\nlisten: 1\n");
    const error = await loadConfig(path, {}).catch((caught: unknown) => caught);
    expect((error as ConfigError).messages[0]).toStartWith(`${path}:3:9: listen: 1 is not`);
  });

  test("example relight.yaml loads", async () => {
    const config = await loadConfig("relight.yaml", { HOME: "/home/ops" });
    expect(config.slicer.socketPath).toBe("/home/ops/slicer-mac/slicer.sock");
    expect(config.sites.map((site) => site.pattern)).toEqual(["*.localhost", "*"]);
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
    expect(output).not.toContain("very-secret-token");
    expect(output).not.toContain("admin-secret");
    expect(output).toContain("token: <redacted>");
  });

  test("round-trips to the same config", () => {
    const config = load(full);
    const again = load(formatEffectiveConfig(config));
    expect(again).toEqual({
      ...config,
      slicer: { ...config.slicer, token: "<redacted>" },
      admin: { listen: { hostname: "0.0.0.0", port: 9090 }, token: "<redacted>" },
    });
  });

  test("round-trips implicit site", () => {
    const config = load(SLICER);
    expect(load(formatEffectiveConfig(config))).toEqual(config);
  });

  test("round-trips token file and literal dollar", () => {
    const path = join(dir, "round-trip-token");
    writeFileSync(path, "abc\n");
    const config = load(
      `slicer:\n  url: /s.sock\n  token_file: ${path}\ndefaults:\n  host_group: a$\${B}\n`,
    );
    const output = formatEffectiveConfig(config);
    expect(output).toContain(`token_file: ${path}`);
    expect(output).not.toContain("abc");
    expect(load(output)).toEqual(config);
  });
});
