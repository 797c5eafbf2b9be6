/**
 * `npm run dev` runs the router under `bun --watch`, which restarts it when a
 * source file changes.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { TempDir } from "./support.ts";

const repoRoot = join(import.meta.dir, "../..");
const dir = new TempDir();
afterAll(() => dir.remove());

/** Counts how often `text` occurs in `haystack`. */
function occurrences(haystack: string, text: string): number {
  return haystack.split(text).length - 1;
}

async function waitUntil(condition: () => boolean, what: string, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe("npm run dev", () => {
  test("restarts on a source change", async () => {
    const config = dir.write(
      "dev.yaml",
      `listen: 127.0.0.1:0\nslicer:\n  url: ${dir.path}/slicer.sock\n`,
    );
    // Its own process group, so that npm, bun and the router stop together.
    const child = spawn("npm", ["run", "--silent", "dev", "--", "--config", config], {
      cwd: repoRoot,
      detached: true,
      stdio: ["ignore", "ignore", "pipe"],
      env: { PATH: process.env["PATH"] ?? "", HOME: dir.path },
    });
    let stderr = "";
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (chunk: string) => {
      stderr += chunk;
    });

    const started = 'msg="relight started"';
    try {
      await waitUntil(() => occurrences(stderr, started) === 1, "the first start");

      // Writing a source file back unchanged is a change to the watcher.
      const source = join(repoRoot, "src/main.ts");
      writeFileSync(source, readFileSync(source));
      await waitUntil(() => occurrences(stderr, started) === 2, "the restart");

      expect(occurrences(stderr, started)).toBe(2);
    } finally {
      process.kill(-child.pid!, "SIGKILL");
    }
  }, 30_000);
});
