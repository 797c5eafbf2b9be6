/** Helpers for command-line tests: captured output and temporary config files. */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CommandOutput } from "../../src/cli/io.ts";

/** Output that records lines instead of printing them. */
export class CapturedOutput implements CommandOutput {
  readonly stdout: string[] = [];
  readonly stderr: string[] = [];

  out(line: string): void {
    this.stdout.push(line);
  }

  err(line: string): void {
    this.stderr.push(line);
  }
}

/** A temporary directory that test files write configs into. */
export class TempDir {
  readonly path = mkdtempSync(join(tmpdir(), "relight-cli-"));

  /** Writes `content` to `name` inside the directory and returns its path. */
  write(name: string, content: string): string {
    const path = join(this.path, name);
    writeFileSync(path, content);
    return path;
  }

  remove(): void {
    rmSync(this.path, { recursive: true, force: true });
  }
}
