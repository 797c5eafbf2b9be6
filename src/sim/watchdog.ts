/**
 * A watchdog process that kills the VM process groups when the simulator's
 * process dies without stopping them, for example when a test run is killed
 * with SIGKILL. A frozen VM cannot notice that its parent is gone, so the
 * watch runs in a separate process that is never paused.
 *
 * The watchdog is a `/bin/sh` script in its own session, so a terminal's
 * SIGINT or SIGHUP does not reach it. It reads `watch PGID` and
 * `unwatch PGID` lines on stdin. End of input means the simulator's process
 * has exited or closed the pipe, and the watchdog then sends SIGKILL to each
 * group still watched. SIGKILL also ends stopped processes, so no SIGCONT is
 * needed.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { getLogger } from "../log.ts";

const logger = getLogger("sim");

const script = `
groups=" "
while read -r command pgid; do
  case "$command $pgid" in
    "watch "[0-9]*) groups="$groups$pgid " ;;
    "unwatch "[0-9]*)
      case "$groups" in
        *" $pgid "*) groups="\${groups%% $pgid *} \${groups#* $pgid }" ;;
      esac ;;
  esac
done
for pgid in $groups; do
  kill -s KILL -- "-$pgid" 2>/dev/null
done
exit 0
`;

/** A running watchdog process and the write end of its input pipe. */
export class Watchdog {
  readonly #child: ChildProcess;
  #closed = false;

  private constructor(child: ChildProcess) {
    this.#child = child;
  }

  /** Starts the watchdog process and resolves once it runs. */
  static async start(): Promise<Watchdog> {
    const child = spawn("/bin/sh", ["-c", script], {
      detached: true,
      stdio: ["pipe", "ignore", "ignore"],
    });
    await new Promise<void>((resolve, reject) => {
      child.once("spawn", resolve);
      child.once("error", reject);
    });

    // Neither the process nor its pipe may keep the simulator's process alive.
    child.unref();
    (child.stdin as unknown as { unref?: () => void } | null)?.unref?.();
    child.stdin?.on("error", (error) => {
      logger.warn("watchdog pipe failed", { error: String(error) });
    });
    return new Watchdog(child);
  }

  /** Process id of the watchdog, for tests. */
  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** Adds a process group to kill if the simulator's process dies. */
  watch(pgid: number): void {
    this.#send(`watch ${pgid}`);
  }

  /** Removes a process group that the simulator has ended itself. */
  unwatch(pgid: number): void {
    this.#send(`unwatch ${pgid}`);
  }

  /**
   * Closes the pipe, so the watchdog exits after killing any group still
   * watched. Resolves when the watchdog has exited.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;

    const child = this.#child;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.stdin?.end();
    await exited;
  }

  #send(line: string): void {
    if (this.#closed) return;
    this.#child.stdin?.write(`${line}\n`);
  }
}
