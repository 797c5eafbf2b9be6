/**
 * The ask server's warning for the implicit site: logged when Relight starts
 * and printed by `relight check`, and absent once `sites` lists the names.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checkAskConfig, implicitSiteAskWarning } from "../../src/ask.ts";
import { checkCommand } from "../../src/cli/check.ts";
import type { CaseGroup } from "../support/cases.ts";
import { catchAllSite, testConfig, wildcardSite, withRelight } from "../harness/relight.ts";
import { SimProcess } from "../harness/sim.ts";

let sim: SimProcess;
const askListen = { listen: { hostname: "127.0.0.1", port: 0 } };

/** Runs `relight check` on a file with `text` and returns its exit code and output. */
async function runCheck(text: string): Promise<{ code: number; out: string[]; err: string[] }> {
  const dir = mkdtempSync(join(tmpdir(), "relight-ask-"));
  try {
    const file = join(dir, "relight.yaml");
    writeFileSync(file, text);
    const out: string[] = [];
    const err: string[] = [];
    const code = await checkCommand(file, {
      out: (line) => out.push(line),
      err: (line) => err.push(line),
    }, {});
    return { code, out, err };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export const askCases: CaseGroup = {
  name: "ask server warning",
  async beforeAll() {
    sim = await SimProcess.start({ groups: [{ name: "apps" }] });
  },
  async afterAll() {
    await sim?.stop();
  },
  cases: [
    {
      name: "implicit site with ask warns",
      run() {
        const config = testConfig("/unused.sock", { ask: askListen });
        const warning = implicitSiteAskWarning(config);
        assert.match(warning ?? "", /any domain/);
        assert.deepEqual(checkAskConfig(config).notes, [`warning: ${warning}`]);
        assert.deepEqual(checkAskConfig(config).errors, []);
      },
    },
    {
      name: "listed sites or no ask stay quiet",
      run() {
        const listed = testConfig("/unused.sock", {
          ask: askListen,
          sites: [wildcardSite("apps.example.com"), catchAllSite()],
        });
        assert.equal(implicitSiteAskWarning(listed), undefined, "sites listed");
        assert.equal(implicitSiteAskWarning(testConfig("/unused.sock")), undefined, "no ask");
      },
    },
    {
      name: "start logs the warning",
      async run() {
        const lines: string[] = [];
        const config = testConfig(sim.socketPath, {
          ask: askListen,
          log: { level: "warning", format: "json", access: false },
        });
        await withRelight(config, () => Promise.resolve(), {
          processMetrics: false,
          logging: { write: (line) => lines.push(line), repeatIntervalMs: 0 },
        });
        const warnings = lines
          .map((line) => JSON.parse(line) as Record<string, unknown>)
          .filter((record) => record["message"] === "ask server approves any domain");
        assert.equal(warnings.length, 1, lines.join("\n"));
        assert.match(String(warnings[0]?.["reason"]), /sites/);
      },
    },
    {
      name: "relight check prints the warning",
      async run() {
        const implicit = await runCheck(
          'slicer:\n  url: http://127.0.0.1:1\nask:\n  listen: "127.0.0.1:9091"\n',
        );
        assert.equal(implicit.code, 0, implicit.err.join("\n"));
        assert.ok(
          implicit.out.some((line) => line.startsWith("# warning: ask approves")),
          implicit.out.join("\n"),
        );

        const listed = await runCheck(
          'slicer:\n  url: http://127.0.0.1:1\nask:\n  listen: "127.0.0.1:9091"\n' +
            'sites:\n  - match: "*.apps.example.com"\n',
        );
        assert.equal(listed.code, 0, listed.err.join("\n"));
        assert.ok(!listed.out.some((line) => line.includes("warning:")), listed.out.join("\n"));
      },
    },
  ],
};
