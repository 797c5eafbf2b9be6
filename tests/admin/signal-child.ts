/**
 * A child process for the signal tests: installs Relight's signal handlers
 * and prints one line per handler call, so the parent can check which ran.
 */
import process from "node:process";
import { installSignalHandlers } from "../../src/admin/lifecycle.ts";

let reloads = 0;
const repeatWindow = process.env["REPEAT_WINDOW_MS"];
installSignalHandlers({
  reload() {
    reloads += 1;
    process.stdout.write(`reload ${reloads}\n`);
    return Promise.resolve();
  },
  async shutdown(signal) {
    process.stdout.write(`shutdown ${signal}\n`);
    // A slow shutdown, so the test can send a second signal meanwhile.
    await new Promise((resolve) => setTimeout(resolve, Number(process.env["SHUTDOWN_MS"] ?? "0")));
    process.stdout.write("stopped\n");
    process.exit(0);
  },
  forceExit() {
    process.stdout.write("forced\n");
    process.exit(1);
  },
}, {
  ...(repeatWindow === undefined ? {} : { repeatWindowMs: Number(repeatWindow) }),
  pendingHangup: process.env["PENDING_HANGUP"] === "1",
});

// Keeps the event loop alive until a signal ends the process.
setInterval(() => {}, 60_000);
process.stdout.write("ready\n");
