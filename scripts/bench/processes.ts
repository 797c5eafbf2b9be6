/**
 * Child processes of the benchmark: started in their own process group on
 * loopback, tracked, and stopped when the suite ends, fails or is
 * interrupted. Also free ports, readiness checks and memory readings.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createConnection, createServer } from "node:net";

export interface Started {
  name: string;
  child: ChildProcess;
  tempDir?: string;
  /** Last lines the process wrote to stderr and stdout, for error messages. */
  outputTail(): string;
  /** Stops the whole process group: SIGTERM, then SIGKILL after 3 s. */
  stop(): Promise<void>;
}

const running = new Set<Started>();
/** Process groups that other processes started, killed on the exit path too. */
const trackedGroups = new Set<number>();
let cleanupInstalled = false;

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // The group is already gone.
  }
}

/**
 * Registers a process group that a child started (a simulated VM's app), so
 * that the exit path kills it if its parent could not.
 */
export function trackGroup(pgid: number): void {
  trackedGroups.add(pgid);
}

/** Kills every process group still running, synchronously, for exit paths. */
export function killAllNow(): void {
  for (const started of running) {
    if (started.child.pid !== undefined) killGroup(started.child.pid, "SIGKILL");
    removeTempDir(started.tempDir);
  }
  running.clear();
  for (const pgid of trackedGroups) {
    // A frozen (SIGSTOP) group is thawed first so nothing is left stopped.
    killGroup(pgid, "SIGCONT");
    killGroup(pgid, "SIGKILL");
  }
  trackedGroups.clear();
}

function installCleanup(): void {
  if (cleanupInstalled) return;
  cleanupInstalled = true;

  process.on("exit", killAllNow);
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(signal, () => {
      killAllNow();
      process.exit(130);
    });
  }
}

export interface StartOptions {
  env?: Record<string, string>;
  cwd?: string;
  /** Directory of the process's config and state, removed once the process has stopped. */
  tempDir?: string;
}

function removeTempDir(dir: string | undefined): void {
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
}

/**
 * Starts a command in its own process group so that stopping it also stops
 * any workers it forks (nginx's master and worker, for example).
 */
export function startProcess(
  name: string,
  command: string,
  args: string[],
  options: StartOptions = {},
): Started {
  installCleanup();

  const child = spawn(command, args, {
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...options.env },
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
  });

  let tail = "";
  const keep = (chunk: Buffer) => {
    tail = (tail + chunk.toString()).slice(-4000);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);

  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null) resolve();
    child.once("exit", () => resolve());
    child.once("error", () => resolve());
  });

  const started: Started = {
    name,
    child,
    ...(options.tempDir === undefined ? {} : { tempDir: options.tempDir }),
    outputTail: () => tail.trim(),
    async stop() {
      running.delete(started);
      const pid = child.pid;
      if (pid !== undefined && child.exitCode === null) {
        killGroup(pid, "SIGTERM");
        const timer = setTimeout(() => killGroup(pid, "SIGKILL"), 3000);
        await exited;
        clearTimeout(timer);
        // Workers that ignored SIGTERM after their parent exited.
        killGroup(pid, "SIGKILL");
      }
      removeTempDir(options.tempDir);
    },
  };
  running.add(started);
  return started;
}

/** Stops every process started so far. */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((started) => started.stop()));
}

/**
 * Returns a port that was free on 127.0.0.1 a moment ago, for programs that
 * need a port in their config file. Another process may take it before the
 * caller binds it, and then the readiness check fails with the program's output.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/** Waits until `port` accepts connections, and fails early if the process exits. */
export async function waitForPort(
  started: Started,
  port: number,
  host = "127.0.0.1",
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (started.child.exitCode !== null) {
      throw new Error(
        `${started.name} exited with code ${started.child.exitCode} before listening on ` +
          `${host}:${port}: ${started.outputTail()}`,
      );
    }
    if (await canConnect(host, port)) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(
    `${started.name} did not listen on ${host}:${port} within ${timeoutMs} ms: ` +
      started.outputTail(),
  );
}

/** Reads the first line a process prints on stdout (a port, usually). */
export function firstLine(started: Started, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let buffer = "";
    const timer = setTimeout(() => {
      reject(
        new Error(
          `${started.name} printed no line within ${timeoutMs} ms: ${started.outputTail()}`,
        ),
      );
    }, timeoutMs);
    const onData = (chunk: Buffer) => {
      buffer += chunk.toString();
      const end = buffer.indexOf("\n");
      if (end < 0) return;
      clearTimeout(timer);
      started.child.stdout?.off("data", onData);
      resolve(buffer.slice(0, end).trim());
    };
    started.child.stdout?.on("data", onData);
    started.child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${started.name} exited with code ${code}: ${started.outputTail()}`));
    });
  });
}

/** Process ids of `pid` and all its descendants. */
export function processTree(pid: number): number[] {
  const result = [pid];
  for (let i = 0; i < result.length; i++) {
    const current = result[i]!;
    let children = "";
    try {
      children = readFileSync(`/proc/${current}/task/${current}/children`, "utf8");
    } catch {
      continue;
    }
    for (const child of children.trim().split(/\s+/)) {
      if (child) result.push(Number(child));
    }
  }
  return result;
}

function statusField(pid: number, field: "VmRSS" | "VmHWM"): number {
  let status = "";
  try {
    status = readFileSync(`/proc/${pid}/status`, "utf8");
  } catch {
    return 0;
  }
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status);
  return match ? Number(match[1]) * 1024 : 0;
}

/** Resident memory of a process tree now, in bytes. */
export function treeRss(pid: number): number {
  return processTree(pid).reduce((sum, id) => sum + statusField(id, "VmRSS"), 0);
}

/**
 * Peak resident memory (VmHWM) summed over a process tree, in bytes. Each
 * process's peak may fall at a different moment, so for a tree this is an
 * upper bound of the tree's peak.
 */
export function treePeakRss(pid: number): number {
  return processTree(pid).reduce((sum, id) => sum + statusField(id, "VmHWM"), 0);
}

/**
 * Resets the peak RSS of every process in the tree to its current RSS by
 * writing 5 to /proc/PID/clear_refs (Linux 4.0 and later, as the same user
 * or root).
 */
export function resetPeakRss(pid: number): void {
  for (const id of processTree(pid)) {
    try {
      writeFileSync(`/proc/${id}/clear_refs`, "5");
    } catch {
      // The process exited or the kernel does not allow it. The peak then
      // covers the process's whole life.
    }
  }
}

/**
 * Returns the CPU time used so far by a process tree, in seconds: the sum of
 * each thread's run time in /proc/PID/task/TID/schedstat, in nanoseconds.
 * /proc/PID/stat counts in 10 ms ticks, too coarse for a transfer that lasts
 * a tenth of a second. Threads and children that already exited are not
 * counted.
 */
export function treeCpuSeconds(pid: number): number {
  let nanoseconds = 0;
  for (const id of processTree(pid)) {
    let threads: string[] = [];
    try {
      threads = readdirSync(`/proc/${id}/task`);
    } catch {
      continue;
    }
    for (const thread of threads) {
      try {
        const schedstat = readFileSync(`/proc/${id}/task/${thread}/schedstat`, "utf8");
        nanoseconds += Number(schedstat.slice(0, schedstat.indexOf(" ")));
      } catch {
        // The thread exited after the listing.
      }
    }
  }
  return nanoseconds / 1e9;
}
