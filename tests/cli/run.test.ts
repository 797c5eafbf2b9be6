import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { type AddressInfo, createServer } from "node:net";
import { join } from "node:path";
import process from "node:process";
import { runtime } from "../../src/runtime/index.ts";
import { probeTcp } from "../../src/vm/probe.ts";
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

/** Returns a loopback port that was free a moment ago. */
function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

/** Resolves once a TCP connection to `port` opens, failing after 10 s. */
async function waitForListener(port: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await probeTcp("127.0.0.1", port, 500))) {
    if (Date.now() > deadline) throw new Error(`nothing listens on port ${port}`);
    await Bun.sleep(20);
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

  test("waits for a slow stderr reader at exit", async () => {
    const port = await freePort();
    const text = `${configText(`127.0.0.1:${port}`)}log:\n  access: true\n`;
    const path = dir.write("slow-reader.yaml", text);
    const out = join(dir.path, "slow-reader.log");
    const pidFile = join(dir.path, "slow-reader.pid");
    // The reader starts 3 s late, so Relight's last lines wait in memory
    // behind a full pipe when SIGTERM comes.
    const shell = spawn("sh", [
      "-c",
      `("$0" "$1" --config "$2" & echo $! > "$3"; wait) 2>&1 | (sleep 3; cat > "$4")`,
      process.execPath,
      MAIN,
      path,
      pidFile,
      out,
    ], { cwd: dir.path, env: { PATH: process.env["PATH"] ?? "", HOME: dir.path } });
    children.push(shell);
    const shellExited = new Promise((resolve) => shell.on("exit", resolve));

    await waitForListener(port);
    const requests = 2_000;
    for (let sent = 0; sent < requests; sent += 100) {
      await Promise.all(
        Array.from(
          { length: 100 },
          () =>
            fetch(`http://127.0.0.1:${port}/`, { headers: { host: "nowhere.test" } })
              .then((response) => response.arrayBuffer()),
        ),
      );
    }
    process.kill(Number(readFileSync(pidFile, "utf8")), "SIGTERM");
    await shellExited;

    const log = readFileSync(out, "utf8");
    expect(log.split("\n").filter((line) => line.includes("logger=relight.access")).length)
      .toBe(requests);
    expect(log).toContain('msg="relight stopped"');
  }, 20_000);

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
