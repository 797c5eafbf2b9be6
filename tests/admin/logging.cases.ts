/** Logging: formats, levels, access log, redaction and repeat counting. */
import assert from "node:assert/strict";
import type { LogConfig } from "../../src/config/types.ts";
import { getLogger } from "../../src/log.ts";
import { configureLogging, logAccess } from "../../src/logging/index.ts";
import { runtime } from "../../src/runtime/index.ts";
import type { CaseGroup } from "../support/cases.ts";

const token = "s3cr3t-admin-token-0123456789";
const slicerToken = "slicer-token-abcdef-987654";

function capture(log: Partial<LogConfig>, repeatIntervalMs = 0) {
  const lines: string[] = [];
  const handle = configureLogging(
    { level: "info", format: "json", access: false, ...log },
    { secrets: [token, slicerToken], write: (line) => lines.push(line), repeatIntervalMs },
  );
  return { lines, handle };
}

function parseLines(lines: string[]): Record<string, unknown>[] {
  return lines.map((line) => JSON.parse(line) as Record<string, unknown>);
}

export const loggingCases: CaseGroup = {
  name: "logging",
  cases: [
    {
      name: "json format flattens properties",
      run() {
        const { lines, handle } = capture({ format: "json" });
        getLogger("vm").info("vm woke", { app: "blog", vm: "apps-1", duration_ms: 120 });
        handle.close();

        const [record] = parseLines(lines);
        assert.equal(lines.length, 1);
        assert.equal(record?.["message"], "vm woke");
        assert.equal(record?.["logger"], "relight.vm");
        assert.equal(record?.["app"], "blog");
        assert.equal(record?.["duration_ms"], 120);
      },
    },
    {
      name: "json level names match log.level",
      run() {
        const { lines, handle } = capture({ format: "json", level: "debug" });
        const log = getLogger("vm");
        log.debug("vm probed");
        log.info("vm woke");
        log.warn("vm slow");
        log.error("vm failed");
        handle.close();

        const levels = parseLines(lines).map((record) => record["level"]);
        assert.deepEqual(levels, ["debug", "info", "warning", "error"]);
      },
    },
    {
      name: "text format is logfmt",
      run() {
        const { lines, handle } = capture({ format: "text" });
        getLogger("vm").info("vm woke", { app: "blog", duration_ms: 120 });
        handle.close();

        assert.equal(lines.length, 1);
        assert.match(lines[0] ?? "", /level=info/);
        assert.match(lines[0] ?? "", /msg="vm woke"/);
        assert.match(lines[0] ?? "", /app=blog/);
        assert.match(lines[0] ?? "", /duration_ms=120/);
      },
    },
    {
      name: "level drops lower records",
      run() {
        const { lines, handle } = capture({ level: "warning" });
        getLogger("proxy").debug("request proxied");
        getLogger("proxy").info("vm woke");
        getLogger("proxy").warning("proxy error", { app: "blog" });
        handle.close();

        assert.equal(lines.length, 1);
        assert.equal(parseLines(lines)[0]?.["message"], "proxy error");
      },
    },
    {
      name: "access log off by default",
      run() {
        const { lines, handle } = capture({ access: false });
        logAccess({
          method: "GET",
          host: "a.test",
          path: "/",
          status: 200,
          durationMs: 3,
          bytes: 5,
        });
        handle.close();

        assert.equal(lines.length, 0);
      },
    },
    {
      name: "access log line drops query",
      run() {
        const { lines, handle } = capture({ access: true, level: "error" });
        logAccess({
          method: "POST",
          host: "blog.apps.test",
          path: "/login?token=abc",
          status: 302,
          durationMs: 12.6,
          bytes: 0,
        });
        handle.close();

        const [record] = parseLines(lines);
        assert.equal(lines.length, 1);
        assert.equal(record?.["method"], "POST");
        assert.equal(record?.["host"], "blog.apps.test");
        assert.equal(record?.["path"], "/login");
        assert.equal(record?.["status"], 302);
        assert.equal(record?.["duration_ms"], 13);
        assert.equal(record?.["bytes"], 0);
      },
    },
    {
      name: "no secret in any line",
      run() {
        for (const format of ["json", "text"] as const) {
          const { lines, handle } = capture({ format, level: "debug" });
          const log = getLogger("slicer");
          log.error("slicerd call failed", {
            error: new Error(`401 for token ${slicerToken}`),
            url: `http://127.0.0.1:1/nodes?token=${slicerToken}`,
          });
          log.debug("request headers", {
            headers: new Headers({ authorization: `Bearer ${token}`, host: "a.test" }),
          });
          log.debug("admin request", { authorization: "Bearer unknown-credential-xyz" });
          log.info("config", { admin: { token }, slicer: { nested: [{ value: slicerToken }] } });
          log.warning("header {header}", { header: `Bearer ${token}` });
          log.info("basic credential", { raw: "Basic dXNlcjpwYXNzd29yZA==" });
          handle.close();

          assert.equal(lines.length, 6, format);
          for (const line of lines) {
            assert.ok(!line.includes(token), `admin token in ${format} line: ${line}`);
            assert.ok(!line.includes(slicerToken), `slicerd token in ${format} line: ${line}`);
            assert.ok(!line.includes("unknown-credential-xyz"), `credential in ${line}`);
            assert.ok(!line.includes("dXNlcjpwYXNzd29yZA"), `basic credential in ${line}`);
          }
          assert.ok(lines[0]?.includes("[REDACTED]"), `${format}: ${lines[0]}`);
        }
      },
    },
    {
      name: "repeated errors are counted",
      run() {
        const { lines, handle } = capture({});
        const log = getLogger("slicer");
        for (let i = 0; i < 5; i++) {
          log.error("slicerd call failed", {
            endpoint: "/nodes",
            error: "ECONNREFUSED",
            duration_ms: i,
          });
        }
        log.error("slicerd call failed", { endpoint: "/nodes", error: "timed out" });
        log.info("vm woke", { app: "blog" });
        log.info("vm woke", { app: "blog" });

        assert.equal(lines.length, 4);

        handle.flushRepeats();
        const records = parseLines(lines);
        assert.equal(lines.length, 5);
        assert.equal(records[4]?.["message"], "log message repeated");
        assert.equal(records[4]?.["repeated"], 4);
        assert.equal(records[4]?.["repeated_message"], "slicerd call failed");
        assert.equal(records[4]?.["error"], "ECONNREFUSED");

        log.error("slicerd call failed", { endpoint: "/nodes", error: "ECONNREFUSED" });
        handle.close();
        assert.equal(lines.length, 6);
      },
    },
    {
      name: "repeat timer logs counts",
      async run() {
        const { lines, handle } = capture({}, 50);
        const log = getLogger("vm");
        log.warning("resume failed", { app: "blog", error: "500" });
        log.warning("resume failed", { app: "blog", error: "500" });
        log.warning("resume failed", { app: "blog", error: "500" });
        await new Promise((resolve) => setTimeout(resolve, 120));
        handle.close();

        const summaries = parseLines(lines).filter((r) => r["message"] === "log message repeated");
        assert.equal(summaries.length, 1);
        assert.equal(summaries[0]?.["repeated"], 2);
      },
    },
    {
      name: "handler error logged by adapter",
      async run() {
        const { lines, handle } = capture({ level: "error" });
        const server = runtime.serve({
          hostname: "127.0.0.1",
          port: 0,
          handler: () => {
            throw new Error("handler exploded");
          },
        });
        try {
          const response = await fetch(`http://127.0.0.1:${server.port}/`);
          await response.body?.cancel();

          assert.equal(response.status, 500);
        } finally {
          await server.stop(true);
          handle.close();
        }
        const records = parseLines(lines);

        assert.equal(records.length, 1, lines.join("\n"));
        assert.equal(records[0]?.["message"], "request handler failed");
        assert.match(JSON.stringify(records[0]?.["error"]), /handler exploded/);
      },
    },
    {
      name: "close stops output",
      run() {
        const { lines, handle } = capture({});
        handle.close();
        getLogger("vm").error("resume failed");
        assert.equal(lines.length, 0);
      },
    },
  ],
};
