/**
 * Limits that keep a config file from harming the process that loads it:
 * durations that timers cannot hold, and secrets that must not reach any
 * error message.
 */
import assert from "node:assert/strict";
import { ConfigError, parseConfig } from "../../src/config/index.ts";
import { DURATION_MAX_MS, MAX_TIMER_MS } from "../../src/config/fields.ts";
import { assertExcludes, assertIncludes, CaseCollector } from "./collect.ts";

const collector = new CaseCollector("config limits");
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

/** Every duration key, written as a file that sets it to `value`. */
const DURATION_KEYS: [string, (value: string) => string][] = [
  ["slicer.request_timeout", (value) => `slicer:\n  url: /s.sock\n  request_timeout: ${value}\n`],
  ["watch_interval", (value) => `${SLICER}watch_interval: ${value}\n`],
  ["refresh_interval", (value) => `${SLICER}refresh_interval: ${value}\n`],
  ["shutdown_timeout", (value) => `${SLICER}shutdown_timeout: ${value}\n`],
  ["response_timeout", (value) => `${SLICER}response_timeout: ${value}\n`],
  ["defaults.idle_timeout", (value) => `${SLICER}defaults:\n  idle_timeout: ${value}\n`],
  ["defaults.wake_timeout", (value) => `${SLICER}defaults:\n  wake_timeout: ${value}\n`],
  [
    "sites[0].idle_timeout",
    (value) => `${SLICER}sites:\n  - match: "*"\n    idle_timeout: ${value}\n`,
  ],
  [
    "sites[0].wake_timeout",
    (value) => `${SLICER}sites:\n  - match: "*"\n    wake_timeout: ${value}\n`,
  ],
];

describe("duration maximum", () => {
  test("no maximum above the timer limit", () => {
    for (const [key, maxMs] of Object.entries(DURATION_MAX_MS)) {
      assert.ok(maxMs <= MAX_TIMER_MS, `${key}: ${maxMs} ms is above ${MAX_TIMER_MS} ms`);
    }
  });

  for (const [key, write] of DURATION_KEYS) {
    test(`${key} rejects 1000h`, () => {
      const errors = errorsOf(write("1000h"));
      assert.equal(errors.length, 1, errors.join("\n"));
      assertIncludes(errors[0] ?? "", `: ${key}: "1000h" is above the maximum of `);
    });

    test(`${key} rejects the timer limit plus 1ms`, () => {
      const errors = errorsOf(write(`${MAX_TIMER_MS + 1}ms`));
      assert.equal(errors.length, 1, errors.join("\n"));
      assertIncludes(errors[0] ?? "", "is above the maximum of ");
    });
  }
});

const SECRET = "5550001112223";

/** Files that put the secret in a token or a URL, each with some other mistake. */
const SECRET_FILES: [string, string, Record<string, string>?][] = [
  ["bare number slicer token", `slicer:\n  url: /s.sock\n  token: ${SECRET}\n`],
  ["bare number admin token", `${SLICER}admin:\n  token: ${SECRET}\n`],
  ["token as a list", `slicer:\n  url: /s.sock\n  token: [${SECRET}]\n`],
  ["token as a mapping", `slicer:\n  url: /s.sock\n  token: { a: ${SECRET} }\n`],
  ["token from env as number", "slicer:\n  url: /s.sock\n  token: ${T}\n", { T: SECRET }],
  [
    "token beside token_file",
    `slicer:\n  url: /s.sock\n  token: "${SECRET}"\n  token_file: /nonexistent/t\n`,
  ],
  ["token with unclosed reference", `slicer:\n  url: /s.sock\n  token: "${SECRET}\${X"\n`],
  ["token under a wrong key", `slicer:\n  url: /s.sock\n  tokne: ${SECRET}\n`],
  ["token at the top level", `${SLICER}slicer_token: ${SECRET}\n`],
  [
    "admin token with public listen error",
    `${SLICER}admin:\n  listen: 0.0.0.0:1\n  token: ${SECRET}\nlisten: nowhere\n`,
  ],
  ["password in slicer url", `slicer:\n  url: "http://user:${SECRET}@127.0.0.1:9/"\n`],
  ["password in bad slicer url", `slicer:\n  url: "http://user:${SECRET}@[::1/"\n`],
  ["password in ftp slicer url", `slicer:\n  url: "ftp://user:${SECRET}@127.0.0.1/"\n`],
  ["user name in slicer url", `slicer:\n  url: "https://${SECRET}@127.0.0.1:9/"\n`],
  [
    "password in acme directory url",
    `${SLICER}tls:\n  acme:\n    directory_url: "https://u:${SECRET}@127.0.0.1/dir"\n`,
  ],
  [
    "password in bad acme directory url",
    `${SLICER}tls:\n  acme:\n    directory_url: "ftp://u:${SECRET}@127.0.0.1/dir"\n`,
  ],
];

describe("secrets in errors", () => {
  for (const [name, text, env] of SECRET_FILES) {
    test(name, () => {
      const errors = errorsOf(text, env);
      assert.ok(errors.length > 0);
      assertExcludes(errors.join("\n"), SECRET);
    });
  }
});

export const configLimitCases = collector.group();
