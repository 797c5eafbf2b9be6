import assert from "node:assert/strict";
import { ConfigError, parseConfig } from "../../src/config/index.ts";
import { CaseCollector } from "./collect.ts";

const collector = new CaseCollector("config errors");
const { describe, test } = collector;

/** Parses `text` and returns the error messages, failing when it loads. */
function errorsOf(text: string, env: Record<string, string> = {}): readonly string[] {
  try {
    parseConfig(text, { file: "relight.yaml", env, baseDir: "/etc/relight" });
  } catch (error) {
    if (error instanceof ConfigError) return error.messages;
    throw error;
  }
  throw new Error("config loaded without errors");
}

const SLICER = "slicer:\n  url: /run/slicer.sock\n";

interface ErrorCase {
  name: string;
  yaml: string;
  env?: Record<string, string>;
  error: string;
}

const cases: ErrorCase[] = [
  {
    name: "idle_timeout below minimum",
    yaml: `${SLICER}defaults:\n  idle_timeout: 10s\n`,
    error: 'relight.yaml:4:17: defaults.idle_timeout: "10s" is below the minimum of 30s',
  },
  {
    name: "bare number duration",
    yaml: `${SLICER}watch_interval: 30\n`,
    error: 'relight.yaml:3:17: watch_interval: 30 is not a duration (use e.g. "30s" or "5m")',
  },
  {
    name: "unknown duration unit",
    yaml: `${SLICER}defaults:\n  wake_timeout: 3d\n`,
    error:
      'relight.yaml:4:17: defaults.wake_timeout: "3d" is not a duration (use e.g. "30s" or "5m")',
  },
  {
    name: "negative duration",
    yaml: `${SLICER}shutdown_timeout: -5s\n`,
    error:
      'relight.yaml:3:19: shutdown_timeout: "-5s" is negative (use a positive duration such as "30s")',
  },
  {
    name: "zero duration",
    yaml: `${SLICER}defaults:\n  wake_timeout: 0s\n`,
    error: 'relight.yaml:4:17: defaults.wake_timeout: "0s" must be greater than zero',
  },
  {
    name: "response_timeout below minimum",
    yaml: `${SLICER}response_timeout: 500ms\n`,
    error: 'relight.yaml:3:19: response_timeout: "500ms" is below the minimum of 1s',
  },
  {
    name: "refresh_interval below minimum",
    yaml: `${SLICER}refresh_interval: 500ms\n`,
    error: 'relight.yaml:3:19: refresh_interval: "500ms" is below the minimum of 1s',
  },
  {
    name: "unknown key with suggestion",
    yaml: `${SLICER}defaults:\n  app_prot: 8080\n`,
    error: 'relight.yaml:4:3: defaults.app_prot: unknown key "app_prot" (did you mean "app_port"?)',
  },
  {
    name: "unknown key without suggestion",
    yaml: `${SLICER}log:\n  colour: yes\n`,
    error:
      'relight.yaml:4:3: log.colour: unknown key "colour" (valid keys are level, format, access)',
  },
  {
    name: "old Caddy directive",
    yaml: `${SLICER}ask_listen: 127.0.0.1:5555\n`,
    error: 'relight.yaml:3:1: ask_listen: unknown key "ask_listen" (it is now ask.listen)',
  },
  {
    name: "missing slicer url",
    yaml: "slicer:\n  token: abc\n",
    error:
      'relight.yaml:2:3: slicer.url: is required (a unix socket path or an http(s) URL (e.g. "~/slicer-mac/slicer.sock" or "http://127.0.0.1:8081"))',
  },
  {
    name: "missing slicer block",
    yaml: "listen: 127.0.0.1:8080\n",
    error: "relight.yaml:1:1: slicer: is required (a mapping of keys)",
  },
  {
    name: "unsupported slicer url scheme",
    yaml: "slicer:\n  url: ftp://host/\n",
    error:
      'relight.yaml:2:8: slicer.url: "ftp://host/" is not a unix socket path or an http(s) URL (e.g. "~/slicer-mac/slicer.sock" or "http://127.0.0.1:8081")',
  },
  {
    name: "port out of range",
    yaml: `${SLICER}defaults:\n  app_port: 70000\n`,
    error: "relight.yaml:4:13: defaults.app_port: 70000 is not a port number (use 1 to 65535)",
  },
  {
    name: "port given as text",
    yaml: `${SLICER}defaults:\n  app_port: http\n`,
    error: 'relight.yaml:4:13: defaults.app_port: "http" is not a port number (use 1 to 65535)',
  },
  {
    name: "bad listen address",
    yaml: `${SLICER}listen: 8080\n`,
    error:
      'relight.yaml:3:9: listen: 8080 is not a listen address (use host:port, e.g. "127.0.0.1:8080" or ":8080")',
  },
  {
    name: "listen port above 65535",
    yaml: `${SLICER}listen: 127.0.0.1:70000\n`,
    error:
      'relight.yaml:3:9: listen: "127.0.0.1:70000" is not a listen address (use host:port, e.g. "127.0.0.1:8080" or ":8080")',
  },
  {
    name: "wildcard in the middle",
    yaml: `${SLICER}sites:\n  - match: "a.*.com"\n`,
    error:
      'relight.yaml:4:12: sites[0].match: "a.*.com" is not a valid match pattern (use "*", "*.example.com" or an exact hostname such as "app.example.com")',
  },
  {
    name: "double wildcard",
    yaml: `${SLICER}sites:\n  - match: "*.*.example.com"\n`,
    error:
      'relight.yaml:4:12: sites[0].match: "*.*.example.com" is not a valid match pattern (use "*", "*.example.com" or an exact hostname such as "app.example.com")',
  },
  {
    name: "pattern with a port",
    yaml: `${SLICER}sites:\n  - match: app.example.com:443\n`,
    error:
      'relight.yaml:4:12: sites[0].match: "app.example.com:443" is not a valid match pattern (use "*", "*.example.com" or an exact hostname such as "app.example.com")',
  },
  {
    name: "duplicate site pattern",
    yaml: `${SLICER}sites:\n  - match: "*"\n  - match: "*"\n`,
    error: 'relight.yaml:5:12: sites[1].match: "*" is listed twice (each pattern may appear once)',
  },
  {
    name: "empty sites list",
    yaml: `${SLICER}sites: []\n`,
    error:
      "relight.yaml:3:8: sites: is an empty list (list at least one site, or omit sites to match every host)",
  },
  {
    name: "site idle_timeout below minimum",
    yaml: `${SLICER}sites:\n  - match: "*"\n    idle_timeout: 29s\n`,
    error: 'relight.yaml:5:19: sites[0].idle_timeout: "29s" is below the minimum of 30s',
  },
  {
    name: "bad trusted proxy",
    yaml: `${SLICER}trusted_proxies:\n  - 10.0.0.0/33\n`,
    error:
      'relight.yaml:4:5: trusted_proxies[0]: "10.0.0.0/33" is not an IP address or CIDR range (e.g. "10.0.0.1" or "10.0.0.0/8")',
  },
  {
    name: "missing environment variable",
    yaml: "slicer:\n  url: ${SLICER_URL}\n",
    error:
      "relight.yaml:2:8: slicer.url: environment variable SLICER_URL is not set (set it, or write ${SLICER_URL:-default} to give a default)",
  },
  {
    name: "missing Caddy-style variable",
    yaml: `${SLICER}defaults:\n  host_group: "{env.GROUP}"\n`,
    error:
      "relight.yaml:4:16: defaults.host_group: environment variable GROUP is not set (set it, or write ${GROUP:-default} to give a default)",
  },
  {
    name: "malformed variable reference",
    yaml: `${SLICER}defaults:\n  host_group: \${1X}\n`,
    error:
      'relight.yaml:4:15: defaults.host_group: "${1X}" is not a valid variable reference (use ${NAME} or ${NAME:-default})',
  },
  {
    name: "token and token_file together",
    yaml: "slicer:\n  url: /s.sock\n  token: abc\n  token_file: /t\n",
    error:
      "relight.yaml:4:3: slicer.token_file: cannot be set together with slicer.token (keep one)",
  },
  {
    name: "missing token file",
    yaml: "slicer:\n  url: /s.sock\n  token_file: /nonexistent/relight/token\n",
    error:
      'relight.yaml:3:15: slicer.token_file: "/nonexistent/relight/token" could not be read (file not found)',
  },
  {
    name: "device as token file",
    yaml: "slicer:\n  url: /s.sock\n  token_file: /dev/zero\n",
    error:
      'relight.yaml:3:15: slicer.token_file: "/dev/zero" is not a regular file (it must contain only the token)',
  },
  {
    name: "directory as token file",
    yaml: "slicer:\n  url: /s.sock\n  token_file: /\n",
    error: 'relight.yaml:3:15: slicer.token_file: "/" could not be read (it is a directory)',
  },
  {
    name: "numeric token not shown",
    yaml: "slicer:\n  url: /s.sock\n  token: 918273645\n",
    error:
      'relight.yaml:3:10: slicer.token: is a number, not a token string (quote the value, e.g. token: "...")',
  },
  {
    name: "numeric admin token from env not shown",
    yaml: `${SLICER}admin:\n  token: \${ADMIN_TOKEN}\n`,
    env: { ADMIN_TOKEN: "918273645" },
    error:
      'relight.yaml:4:10: admin.token: is a number, not a token string (quote the value, e.g. token: "...")',
  },
  {
    name: "token with line break not shown",
    yaml: 'slicer:\n  url: /s.sock\n  token: "hunter 2\\r\\nX-Evil: 1"\n',
    error:
      "relight.yaml:3:10: slicer.token: contains a space, a control character or a non-ASCII character (a token is sent in an HTTP Authorization header, so use printable ASCII only)",
  },
  {
    name: "admin token with space not shown",
    yaml: `${SLICER}admin:\n  token: "open sesame"\n`,
    error:
      "relight.yaml:4:10: admin.token: contains a space, a control character or a non-ASCII character (a token is sent in an HTTP Authorization header, so use printable ASCII only)",
  },
  {
    name: "binary token named as binary",
    yaml: "slicer:\n  url: /s.sock\n  token: !!binary aGVsbG8=\n",
    error:
      'relight.yaml:3:19: slicer.token: is binary data, not a token string (quote the value, e.g. token: "...")',
  },
  {
    name: "slicer url with query string",
    yaml: 'slicer:\n  url: "http://127.0.0.1:8081/?token=s3cret"\n',
    error:
      'relight.yaml:2:8: slicer.url: "http://127.0.0.1:8081/?<redacted>" has a query string or fragment, which is not supported (remove it, and put the Slicer API token in slicer.token or slicer.token_file)',
  },
  {
    name: "slicer url with fragment",
    yaml: 'slicer:\n  url: "http://127.0.0.1:8081/api#s3cret"\n',
    error:
      'relight.yaml:2:8: slicer.url: "http://127.0.0.1:8081/api#<redacted>" has a query string or fragment, which is not supported (remove it, and put the Slicer API token in slicer.token or slicer.token_file)',
  },
  {
    name: "admin on a public address without token",
    yaml: `${SLICER}admin:\n  listen: 0.0.0.0:9090\n`,
    error:
      'relight.yaml:4:11: admin.listen: "0.0.0.0:9090" is not a loopback address, so admin.token is required (set admin.token, or listen on 127.0.0.1)',
  },
  {
    name: "two listeners on one address",
    yaml: `${SLICER}listen: 127.0.0.1:8080\nask:\n  listen: 127.0.0.1:8080\n`,
    error:
      'relight.yaml:5:11: ask.listen: "127.0.0.1:8080" is already used by listen (pick another port)',
  },
  {
    name: "wildcard listen overlaps admin",
    yaml: `${SLICER}listen: ":9191"\nadmin:\n  listen: 127.0.0.1:9191\n`,
    error:
      'relight.yaml:5:11: admin.listen: "127.0.0.1:9191" overlaps listen "0.0.0.0:9191" on port 9191 (pick another port)',
  },
  {
    name: "localhost overlaps 127.0.0.1",
    yaml: `${SLICER}listen: localhost:8080\nask:\n  listen: 127.0.0.1:8080\n`,
    error:
      'relight.yaml:5:11: ask.listen: "127.0.0.1:8080" overlaps listen "localhost:8080" on port 8080 (pick another port)',
  },
  {
    name: "localhost overlaps ::1",
    yaml: `${SLICER}listen: "[::1]:8080"\nask:\n  listen: localhost:8080\n`,
    error:
      'relight.yaml:5:11: ask.listen: "localhost:8080" overlaps listen "[::1]:8080" on port 8080 (pick another port)',
  },
  {
    name: "tls wildcard overlaps listen",
    yaml: `${SLICER}listen: 127.0.0.1:8443\ntls:\n  listen: "[::]:8443"\n  acme: {}\n`,
    error:
      'relight.yaml:5:11: tls.listen: "[::]:8443" overlaps listen "127.0.0.1:8443" on port 8443 (pick another port)',
  },
  {
    name: "bad log level",
    yaml: `${SLICER}log:\n  level: verbose\n`,
    error:
      'relight.yaml:4:10: log.level: "verbose" is not a log level (use "debug", "info", "warning" or "error")',
  },
  {
    name: "log access not boolean",
    yaml: `${SLICER}log:\n  access: sometimes\n`,
    error: 'relight.yaml:4:11: log.access: "sometimes" is not true or false',
  },
  {
    name: "tls without certificates or acme",
    yaml: `${SLICER}tls:\n  listen: ":8443"\n`,
    error:
      "relight.yaml:4:3: tls: needs certificates, acme, or both (HTTPS has no certificate otherwise)",
  },
  {
    name: "acme staging with directory url",
    yaml:
      `${SLICER}tls:\n  acme:\n    staging: true\n    directory_url: https://127.0.0.1:14000/dir\n`,
    error:
      "relight.yaml:5:5: tls.acme.staging: cannot be true when tls.acme.directory_url is set (remove one)",
  },
  {
    name: "certificate without key",
    yaml: `${SLICER}tls:\n  certificates:\n    - cert_file: a.crt\n`,
    error: "relight.yaml:5:7: tls.certificates[0].key_file: is required (a private key file path)",
  },
  {
    name: "bad acme email",
    yaml: `${SLICER}tls:\n  acme:\n    email: ops\n`,
    error: 'relight.yaml:5:12: tls.acme.email: "ops" is not an email address',
  },
  {
    name: "bad hsts",
    yaml: `${SLICER}tls:\n  acme: {}\n  hsts: 10\n`,
    error: 'relight.yaml:5:9: tls.hsts: 10 is not true, false or a max-age duration (e.g. "8760h")',
  },
  {
    name: "yaml syntax error",
    yaml: "slicer:\n  url: [unclosed\n",
    error:
      "relight.yaml:3:1: invalid YAML: Flow sequence in block collection must be sufficiently indented and end with a ]",
  },
  {
    name: "duplicate key",
    yaml: `${SLICER}listen: 127.0.0.1:1\nlisten: 127.0.0.1:2\n`,
    error:
      'relight.yaml:4:1: invalid YAML: duplicate key "listen" (each key may appear once in a mapping)',
  },
  {
    name: "duplicate nested key",
    yaml: `${SLICER}log:\n  level: info\n  level: debug\n`,
    error:
      'relight.yaml:5:3: invalid YAML: duplicate key "level" (each key may appear once in a mapping)',
  },
  {
    name: "refresh_interval above maximum",
    yaml: `${SLICER}refresh_interval: 1000h\n`,
    error: 'relight.yaml:3:19: refresh_interval: "1000h" is above the maximum of 24h',
  },
  {
    name: "idle_timeout above maximum",
    yaml: `${SLICER}defaults:\n  idle_timeout: 577h\n`,
    error: 'relight.yaml:4:17: defaults.idle_timeout: "577h" is above the maximum of 576h',
  },
  {
    name: "request_timeout above maximum",
    yaml: "slicer:\n  url: /run/slicer.sock\n  request_timeout: 61m\n",
    error: 'relight.yaml:3:20: slicer.request_timeout: "61m" is above the maximum of 1h',
  },
  {
    name: "listen host with five numeric labels",
    yaml: `${SLICER}listen: "127.201.33.7.5:8080"\n`,
    error:
      'relight.yaml:3:9: listen: "127.201.33.7.5:8080" has an invalid host "127.201.33.7.5" (use an IPv4 address such as 127.0.0.1, a bracketed IPv6 address such as [::1], or an RFC 1123 hostname such as localhost)',
  },
  {
    name: "listen host out of IPv4 range",
    yaml: `${SLICER}admin:\n  listen: 127.0.0.256:9090\n`,
    error:
      'relight.yaml:4:11: admin.listen: "127.0.0.256:9090" has an invalid host "127.0.0.256" (use an IPv4 address such as 127.0.0.1, a bracketed IPv6 address such as [::1], or an RFC 1123 hostname such as localhost)',
  },
  {
    name: "listen bracketed host not IPv6",
    yaml: `${SLICER}listen: "[localhost]:8080"\n`,
    error:
      'relight.yaml:3:9: listen: "[localhost]:8080" has an invalid host "[localhost]" (use an IPv4 address such as 127.0.0.1, a bracketed IPv6 address such as [::1], or an RFC 1123 hostname such as localhost)',
  },
  {
    name: "listen host with underscore",
    yaml: `${SLICER}listen: "my_host:8080"\n`,
    error:
      'relight.yaml:3:9: listen: "my_host:8080" has an invalid host "my_host" (use an IPv4 address such as 127.0.0.1, a bracketed IPv6 address such as [::1], or an RFC 1123 hostname such as localhost)',
  },
  {
    name: "top-level list",
    yaml: "- slicer\n- listen\n",
    error: 'relight.yaml:1:1: the file must be a mapping of keys such as "slicer:", not a list',
  },
  {
    name: "top-level scalar",
    yaml: "\n\nrelight\n",
    error:
      'relight.yaml:3:1: the file must be a mapping of keys such as "slicer:", not a single value',
  },
  {
    name: "unclosed variable reference",
    yaml: "slicer:\n  url: /run/${RB_NOT_SET\n",
    error:
      'relight.yaml:2:13: slicer.url: unclosed "${" (end the reference with "}", or write "$${" for a literal "${")',
  },
  {
    name: "unclosed reference in quotes",
    yaml: `${SLICER}defaults:\n  host_group: "apps-\${GROUP"\n`,
    error:
      'relight.yaml:4:21: defaults.host_group: unclosed "${" (end the reference with "}", or write "$${" for a literal "${")',
  },
  {
    name: "alias bomb",
    yaml: [
      'a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x"]',
      "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]",
      "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]",
      "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]",
      "e: [*d, *d, *d, *d, *d, *d, *d, *d, *d]",
      SLICER,
    ].join("\n"),
    error:
      "relight.yaml:2:8: invalid YAML: aliases expand to too many nodes (the yaml maxAliasCount limit is 100; write the values out instead)",
  },
  {
    name: "slicer url with user and password",
    yaml: 'slicer:\n  url: "http://USER:PASS@127.0.0.1:9/"\n',
    error:
      'relight.yaml:2:8: slicer.url: "http://<redacted>@127.0.0.1:9/" contains a user name or password, which is not supported (remove it, and put the Slicer API token in slicer.token or slicer.token_file)',
  },
  {
    name: "unparseable slicer url with password",
    yaml: 'slicer:\n  url: "http://USER:PASS@[::1/"\n',
    error:
      'relight.yaml:2:8: slicer.url: "http://<redacted>@[::1/" is not a unix socket path or an http(s) URL (e.g. "~/slicer-mac/slicer.sock" or "http://127.0.0.1:8081")',
  },
  {
    name: "acme directory url with password",
    yaml: `${SLICER}tls:\n  acme:\n    directory_url: https://USER:PASS@127.0.0.1:14000/dir\n`,
    error:
      'relight.yaml:5:20: tls.acme.directory_url: "https://<redacted>@127.0.0.1:14000/dir" contains a user name or password, which is not supported (remove it, because the ACME account key identifies Relight)',
  },
  {
    name: "empty file",
    yaml: "",
    error: "relight.yaml:1:1: the file is empty (set at least slicer.url)",
  },
];

describe("config errors", () => {
  for (const errorCase of cases) {
    test(errorCase.name, () => {
      assert.deepEqual(errorsOf(errorCase.yaml, errorCase.env), [errorCase.error]);
    });
  }

  test("every problem is reported in file order", () => {
    const yaml = [
      "slicer:",
      "  url: /run/slicer.sock",
      "  request_timeout: 10",
      "defaults:",
      "  idle_timeout: 10s",
      "  app_prot: 8080",
      "sites:",
      '  - match: "a.*.com"',
    ].join("\n");

    assert.deepEqual(errorsOf(yaml), [
      'relight.yaml:3:20: slicer.request_timeout: 10 is not a duration (use e.g. "30s" or "5m")',
      'relight.yaml:5:17: defaults.idle_timeout: "10s" is below the minimum of 30s',
      'relight.yaml:6:3: defaults.app_prot: unknown key "app_prot" (did you mean "app_port"?)',
      'relight.yaml:8:12: sites[0].match: "a.*.com" is not a valid match pattern (use "*", "*.example.com" or an exact hostname such as "app.example.com")',
    ]);
  });

  test("key rules reported beside bad values", () => {
    const yaml = [
      "slicer:",
      "  url: /run/slicer.sock",
      "  token: abc",
      "  token_file: /t",
      "watch_interval: 1",
      "tls:",
      "  redirect_http: maybe",
    ].join("\n");

    assert.deepEqual(errorsOf(yaml), [
      "relight.yaml:4:3: slicer.token_file: cannot be set together with slicer.token (keep one)",
      'relight.yaml:5:17: watch_interval: 1 is not a duration (use e.g. "30s" or "5m")',
      "relight.yaml:7:3: tls: needs certificates, acme, or both (HTTPS has no certificate otherwise)",
      'relight.yaml:7:18: tls.redirect_http: "maybe" is not true or false',
    ]);
  });

  test("value checks reported beside bad values", () => {
    const yaml = [
      "slicer:",
      "  url: /run/slicer.sock",
      "  token_file: /nonexistent/relight/token",
      "watch_interval: 1",
      "admin:",
      "  listen: 0.0.0.0:9090",
      "ask:",
      "  listen: 127.0.0.1:8080",
      "sites:",
      '  - match: "*"',
      '  - match: "*"',
    ].join("\n");

    assert.deepEqual(errorsOf(yaml), [
      'relight.yaml:3:15: slicer.token_file: "/nonexistent/relight/token" could not be read (file not found)',
      'relight.yaml:4:17: watch_interval: 1 is not a duration (use e.g. "30s" or "5m")',
      'relight.yaml:6:11: admin.listen: "0.0.0.0:9090" is not a loopback address, so admin.token is required (set admin.token, or listen on 127.0.0.1)',
      'relight.yaml:8:11: ask.listen: "127.0.0.1:8080" is already used by listen (pick another port)',
      'relight.yaml:11:12: sites[1].match: "*" is listed twice (each pattern may appear once)',
    ]);
  });

  test("value checks skip invalid values", () => {
    const yaml = [
      "slicer:",
      "  url: /run/slicer.sock",
      "listen: nowhere",
      "ask:",
      "  listen: nowhere",
      "admin:",
      "  listen: 0.0.0.0",
    ].join("\n");

    assert.deepEqual(errorsOf(yaml), [
      'relight.yaml:3:9: listen: "nowhere" is not a listen address (use host:port, e.g. "127.0.0.1:8080" or ":8080")',
      'relight.yaml:5:11: ask.listen: "nowhere" is not a listen address (use host:port, e.g. "127.0.0.1:8080" or ":8080")',
      'relight.yaml:7:11: admin.listen: "0.0.0.0" is not a listen address (use host:port, e.g. "127.0.0.1:8080" or ":8080")',
    ]);
  });

  test("ConfigError message joins all problems", () => {
    const yaml = `${SLICER}watch_interval: 1\nrefresh_interval: 2\n`;
    try {
      parseConfig(yaml, { env: {} });
      throw new Error("config loaded without errors");
    } catch (error) {
      assert.ok(error instanceof ConfigError);
      assert.equal((error as ConfigError).message.split("\n").length, 2);
    }
  });
});

export const configErrorCases = collector.group();
