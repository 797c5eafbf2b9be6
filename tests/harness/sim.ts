/**
 * Runs the Slicer simulator as a child process (`src/sim/main.ts` under Bun)
 * with its API on a unix socket in a temp dir, and drives it through its
 * `/_sim/` control HTTP API. Works from Bun and Deno alike.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { connect } from "node:net";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";

const repoRoot = fileURLToPath(new URL("../../", import.meta.url));
const simMain = join(repoRoot, "src/sim/main.ts");

/** Maximum wait for the simulator to print its ready banner, in ms. */
const startTimeoutMs = 20_000;

export type SimStatus = "Running" | "Paused" | "Stopped";

export interface SimVmSpec {
  tags: string[];
  status?: SimStatus;
}

export interface SimGroupSpec {
  name: string;
  app_port?: number;
  command?: string | string[];
  vms?: SimVmSpec[];
}

export interface SimVm {
  hostname: string;
  hostgroup: string;
  ip: string;
  tags: string[];
  status: SimStatus;
  appPort: number;
}

export type SimEndpoint = "nodes" | "pause" | "resume" | "relaunch" | "health" | "healthz";

export interface SimProcessOptions {
  groups: SimGroupSpec[];
  /** Delay between a resume call and the VM running again, in ms. */
  resumeDelayMs?: number;
}

function bunExecutable(): string {
  if ("Bun" in globalThis) return process.execPath;
  return join(repoRoot, "node_modules/.bin/bun");
}

/** A simulator child process and a client for its control API. */
export class SimProcess {
  readonly socketPath: string;
  readonly controlUrl: string;
  readonly #child: ChildProcess;
  readonly #dir: string;

  private constructor(child: ChildProcess, dir: string, socketPath: string, controlUrl: string) {
    this.#child = child;
    this.#dir = dir;
    this.socketPath = socketPath;
    this.controlUrl = controlUrl;
  }

  /** Starts the simulator and resolves once its fleet is up. */
  static async start(options: SimProcessOptions): Promise<SimProcess> {
    const dir = mkdtempSync(join(tmpdir(), "relight-sim-"));
    const fleetFile = join(dir, "fleet.yaml");
    const socketPath = join(dir, "slicer.sock");
    writeFileSync(fleetFile, stringify({ host_groups: options.groups }));

    const args = [simMain, "--fleet", fleetFile, "--socket", socketPath];
    args.push("--control", "127.0.0.1:0");
    if (options.resumeDelayMs !== undefined) {
      args.push("--resume-delay", `${options.resumeDelayMs}ms`);
    }
    const child = spawn(bunExecutable(), args, { stdio: ["ignore", "pipe", "pipe"] });

    try {
      const controlUrl = await readControlUrl(child);
      return new SimProcess(child, dir, socketPath, controlUrl);
    } catch (error) {
      child.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
      throw error;
    }
  }

  listVms(): Promise<SimVm[]> {
    return this.#request("GET", "vms") as Promise<SimVm[]>;
  }

  async vmByTag(tag: string): Promise<SimVm> {
    const vm = (await this.listVms()).find((candidate) => candidate.tags.includes(tag));
    if (vm === undefined) throw new Error(`no simulated VM is tagged ${JSON.stringify(tag)}`);
    return vm;
  }

  createVm(group: string, tags: string[], status?: SimStatus): Promise<SimVm> {
    return this.#request("POST", "vms", { group, tags, ...(status ? { status } : {}) }) as Promise<
      SimVm
    >;
  }

  /** Pauses a VM without going through the Slicer API, as another client would. */
  async pauseVm(hostname: string): Promise<void> {
    await this.#request("POST", `vms/${hostname}/pause`);
  }

  async resumeVm(hostname: string): Promise<void> {
    await this.#request("POST", `vms/${hostname}/resume`);
  }

  /** Restarts the VM's app on a new address and returns that address. */
  async moveVm(hostname: string): Promise<string> {
    const body = (await this.#request("POST", `vms/${hostname}/move`)) as { ip: string };
    return body.ip;
  }

  async deleteVm(hostname: string): Promise<void> {
    await this.#request("DELETE", `vms/${hostname}`);
  }

  async getVm(hostname: string): Promise<SimVm> {
    return (await this.#request("GET", `vms/${hostname}`)) as SimVm;
  }

  async setResumeDelay(ms: number): Promise<void> {
    await this.#request("PUT", "resume-delay", { ms });
  }

  async failNext(endpoint: SimEndpoint, count: number, status: number): Promise<void> {
    await this.#request("POST", "fail-next", { endpoint, count, status });
  }

  /**
   * Closes the API socket (connections refused) or opens it again. The
   * simulator applies the change just after it responds, so this waits until
   * the socket accepts or refuses connections.
   */
  async setDown(down: boolean): Promise<void> {
    await this.#request("PUT", "down", { down });
    const deadline = Date.now() + 5000;
    while ((await socketAccepts(this.socketPath)) === down) {
      if (Date.now() > deadline) throw new Error(`simulator did not go ${down ? "down" : "up"}`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  async countCalls(endpoint: SimEndpoint, hostname?: string): Promise<number> {
    const query = new URLSearchParams({ endpoint });
    if (hostname !== undefined) query.set("hostname", hostname);
    const body = (await this.#request("GET", `calls?${query}`)) as { count: number };
    return body.count;
  }

  async clearCalls(): Promise<void> {
    await this.#request("DELETE", "calls");
  }

  /** Stops the simulator (which kills every VM) and removes the temp dir. */
  async stop(): Promise<void> {
    if (this.#child.exitCode === null && this.#child.signalCode === null) {
      const exited = new Promise((resolve) => this.#child.once("exit", resolve));
      this.#child.kill("SIGTERM");
      const timer = setTimeout(() => this.#child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(this.#dir, { recursive: true, force: true });
  }

  async #request(method: string, path: string, body?: unknown): Promise<unknown> {
    const response = await fetch(`${this.controlUrl}${path}`, {
      method,
      ...(body === undefined ? {} : {
        body: JSON.stringify(body),
        headers: { "content-type": "application/json" },
      }),
    });
    const text = await response.text();
    if (!response.ok) {
      throw new Error(`simulator control ${method} ${path} failed: ${response.status} ${text}`);
    }
    return text === "" ? undefined : JSON.parse(text);
  }
}

function socketAccepts(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ path });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/** Reads stdout until the `control:` line of the ready banner. */
function readControlUrl(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let output = "";
    let errors = "";
    const timer = setTimeout(
      () => reject(new Error(`simulator did not start within ${startTimeoutMs} ms: ${errors}`)),
      startTimeoutMs,
    );
    child.stderr?.on("data", (chunk: Buffer) => {
      errors += chunk.toString();
    });
    child.stdout?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      const match = /control:\s+(\S+\/_sim\/)/.exec(output);
      if (match?.[1]) {
        clearTimeout(timer);
        child.stdout?.removeAllListeners("data");
        child.stdout?.resume();
        resolve(match[1]);
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`simulator exited with code ${code} before it was ready: ${errors}`));
    });
  });
}
