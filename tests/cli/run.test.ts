import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import process from "node:process";
import { runtime } from "../../src/runtime/index.ts";
import { TempDir } from "./support.ts";

const MAIN = join(import.meta.dir, "../../src/main.ts");
const dir = new TempDir();
const children: ChildProcess[] = [];

afterEach(() => {
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }
});
afterAll(() => dir.remove());

/** A `relight` process started from the sources, with its stderr collected. */
class RelightProcess {
  readonly child: ChildProcess;
  stderr = "";
  readonly exited: Promise<number | null>;

  constructor(args: string[]) {
    this.child = spawn(process.execPath, [MAIN, ...args], {
      cwd: dir.path,
      env: { PATH: process.env["PATH"] ?? "", HOME: dir.path },
      stdio: ["ignore", "ignore", "pipe"],
    });
    children.push(this.child);
    this.child.stderr?.setEncoding("utf8");
    this.child.stderr?.on("data", (chunk: string) => {
      this.stderr += chunk;
    });
    this.exited = new Promise((resolve) => this.child.on("exit", (code) => resolve(code)));
  }

  /** Waits until stderr contains `text`, failing after `timeoutMs`. */
  async waitFor(text: string, timeoutMs = 5_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.stderr.includes(text)) {
      if (Date.now() > deadline) {
        throw new Error(`timed out waiting for ${JSON.stringify(text)}; stderr:\n${this.stderr}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  signal(name: NodeJS.Signals): void {
    this.child.kill(name);
  }
}

function configText(listen: string): string {
  return `listen: ${listen}\nslicer:\n  url: ${dir.path}/slicer.sock\n`;
}

describe("relight run", () => {
  test("SIGHUP reloads and SIGTERM exits 0", async () => {
    const path = dir.write("run.yaml", configText("127.0.0.1:0"));
    const relight = new RelightProcess(["--config", path]);
    await relight.waitFor('msg="relight started"');

    dir.write("run.yaml", `${configText("127.0.0.1:0")}watch_interval: 5\n`);
    relight.signal("SIGHUP");
    await relight.waitFor("config reload rejected");
    expect(relight.stderr).toContain("watch_interval: 5 is not a duration");

    dir.write("run.yaml", `${configText("127.0.0.1:0")}watch_interval: 10s\n`);
    relight.signal("SIGHUP");
    await relight.waitFor('msg="config reloaded"');

    relight.signal("SIGTERM");
    expect(await relight.exited).toBe(0);
    expect(relight.stderr).toContain('msg="relight stopped"');
  });

  test("SIGHUPs during the start leave it running", async () => {
    const path = dir.write("early.yaml", configText("127.0.0.1:0"));
    const relight = new RelightProcess(["--config", path]);
    // Before any JavaScript runs, about 10 ms after the spawn, SIGHUP still
    // ends the process. From then on it must not, up to "relight started".
    await Bun.sleep(60);
    const hangups = setInterval(() => relight.signal("SIGHUP"), 5);
    try {
      await relight.waitFor('msg="relight started"');
    } finally {
      clearInterval(hangups);
    }

    expect(relight.child.signalCode).toBeNull();
    relight.signal("SIGTERM");
    expect(await relight.exited).toBe(0);
  });

  test("SIGINT exits 0", async () => {
    const path = dir.write("sigint.yaml", configText("127.0.0.1:0"));
    const relight = new RelightProcess(["--config", path]);
    await relight.waitFor('msg="relight started"');

    relight.signal("SIGINT");
    expect(await relight.exited).toBe(0);
  });

  test("invalid config exits 2", async () => {
    const path = dir.write("bad.yaml", "slicer:\n  url: /s.sock\nlisten: nowhere\n");
    const relight = new RelightProcess(["--config", path]);

    expect(await relight.exited).toBe(2);
    expect(relight.stderr).toStartWith(`${path}:3:9: listen: "nowhere" is not a listen address`);
  });

  test("busy admin port names admin.listen", async () => {
    const busy = runtime.serve({ hostname: "127.0.0.1", port: 0, handler: () => new Response() });
    try {
      const text = `${configText("127.0.0.1:0")}admin:\n  listen: 127.0.0.1:${busy.port}\n`;
      const relight = new RelightProcess(["--config", dir.write("busy-admin.yaml", text)]);

      expect(await relight.exited).toBe(1);
      expect(relight.stderr).toContain(
        `relight: failed to start: failed to bind admin.listen "127.0.0.1:${busy.port}"`,
      );
    } finally {
      await busy.stop(true);
    }
  });

  test("busy port exits 1", async () => {
    const busy = runtime.serve({
      hostname: "127.0.0.1",
      port: 0,
      handler: () => new Response("busy"),
    });
    try {
      const path = dir.write("busy.yaml", configText(`127.0.0.1:${busy.port}`));
      const relight = new RelightProcess(["--config", path]);

      expect(await relight.exited).toBe(1);
      expect(relight.stderr).toContain(
        `relight: failed to start: failed to bind listen "127.0.0.1:${busy.port}"`,
      );
    } finally {
      await busy.stop(true);
    }
  });
});
