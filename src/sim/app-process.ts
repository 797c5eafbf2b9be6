/**
 * The process that represents a VM: the host group's app, started in its own
 * process group so that pause, resume and kill reach every process the app
 * starts.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { connect } from "node:net";
import { fileURLToPath } from "node:url";

const demoAppPath = fileURLToPath(new URL("./demo-app.ts", import.meta.url));

/** Time a process group gets between SIGTERM and SIGKILL, in ms. */
const killGraceMs = 1_500;

export interface AppLaunch {
  /** A string runs through `/bin/sh -c`, and undefined runs the demo app. */
  command: string | string[] | undefined;
  host: string;
  port: number;
  hostname: string;
  tags: string[];
  output: "inherit" | "ignore";
}

export class AppProcess {
  readonly pid: number;
  /** Start time, in ms since the epoch. */
  readonly startedAt = Date.now();
  readonly #child: ChildProcess;
  #exitCode: number | null | undefined;
  #exitSignal: NodeJS.Signals | null = null;
  readonly #exited: Promise<void>;

  private constructor(child: ChildProcess, pid: number) {
    this.#child = child;
    this.pid = pid;
    this.#exited = new Promise((resolve) => {
      child.once("exit", (code, signal) => {
        this.#exitCode = code;
        this.#exitSignal = signal;
        resolve();
      });
    });
  }

  /** Spawns the app as the leader of a new process group. */
  static async start(launch: AppLaunch): Promise<AppProcess> {
    const argv = toArgv(launch.command);
    const [file, ...args] = argv;
    if (file === undefined) throw new Error("Invalid app command: it is empty");

    const child = spawn(file, args, {
      detached: true,
      stdio: ["ignore", launch.output, launch.output],
      env: {
        ...process.env,
        PORT: String(launch.port),
        HOST: launch.host,
        VM_HOSTNAME: launch.hostname,
        VM_TAGS: launch.tags.join(","),
      },
    });

    const pid = await new Promise<number>((resolve, reject) => {
      child.once("spawn", () => resolve(child.pid ?? -1));
      child.once("error", reject);
    });
    // The simulator must not wait for its VMs before it can exit.
    child.unref();
    return new AppProcess(child, pid);
  }

  get running(): boolean {
    return this.#exitCode === undefined;
  }

  /** Describes how the app exited, for error messages. */
  get exitDescription(): string {
    if (this.running) return "still running";
    if (this.#exitSignal) return `killed by ${this.#exitSignal}`;
    return `exited with code ${this.#exitCode}`;
  }

  get exited(): Promise<void> {
    return this.#exited;
  }

  /** Sends a signal to the whole process group and ignores a group that is gone. */
  signal(signal: NodeJS.Signals): void {
    try {
      process.kill(-this.pid, signal);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ESRCH") throw error;
    }
  }

  /**
   * Stops every process of the group: SIGTERM and SIGCONT (a frozen process
   * handles SIGTERM only once thawed), then SIGKILL after a grace period.
   * Resolves when no process of the group is left, or after a bounded wait
   * for zombies to be reaped.
   */
  async kill(): Promise<void> {
    this.signal("SIGTERM");
    this.signal("SIGCONT");

    const deadline = Date.now() + killGraceMs;
    while (isGroupAlive(this.pid) && Date.now() < deadline) {
      await sleep(20);
    }
    if (isGroupAlive(this.pid)) this.signal("SIGKILL");

    // A killed process lingers as a zombie until its parent reaps it, so the
    // wait is bounded: the direct child is reaped by this process, and
    // orphaned grandchildren by whichever process adopted them.
    const reapDeadline = Date.now() + killGraceMs;
    while (isGroupAlive(this.pid) && Date.now() < reapDeadline) {
      await sleep(10);
    }
  }
}

function toArgv(command: string | string[] | undefined): string[] {
  if (command === undefined) return [process.execPath, demoAppPath];
  if (typeof command === "string") return ["/bin/sh", "-c", command];
  return command;
}

/** Reports whether any process of the group still exists (zombies included). */
export function isGroupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ESRCH") return false;
    throw error;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Tries one TCP connection to `host:port` and reports whether it was accepted. */
export function acceptsConnections(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const finish = (accepted: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(accepted);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.once("connect", () => finish(true));
    socket.once("error", () => finish(false));
  });
}

/**
 * Polls until the app accepts TCP connections. Returns false when `timeoutMs`
 * passes first or the process exits.
 */
export async function waitForApp(
  app: AppProcess,
  host: string,
  port: number,
  timeoutMs: number,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!app.running) return false;
    if (await acceptsConnections(host, port, 200)) return true;
    await sleep(20);
  }
  return false;
}
