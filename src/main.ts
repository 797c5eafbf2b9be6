#!/usr/bin/env bun
/** Entry point of the `relight` binary; see `relight --help`. */
import process from "node:process";
import { setTimeout } from "node:timers";
import { holdHangups } from "./cli/hangup.ts";

/** Maximum wait at exit for stderr to take the last log lines, in ms. */
const logDrainTimeoutMs = 5_000;

// Before the rest of Relight loads, which takes about 100 ms, so that an
// early SIGHUP does not end the process.
holdHangups();
const [{ main }, { drainLogs }] = await Promise.all([
  import("./cli/main.ts"),
  import("./logging/index.ts"),
]);

const code = await main(process.argv.slice(2));
process.exitCode = code;
// Waits for a slow reader of stderr, such as a busy journald, to take the
// last log lines ("relight stopped" among them).
await drainLogs(logDrainTimeoutMs);

// The process normally ends here on its own. The timer ends it anyway if a
// library left a socket or timer open after shutdown, without cutting off
// output that is still being written.
setTimeout(() => process.exit(code), 1000).unref();
