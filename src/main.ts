#!/usr/bin/env bun
/** Entry point of the `relight` binary; see `relight --help`. */
import process from "node:process";
import { setTimeout } from "node:timers";
import { holdHangups } from "./cli/hangup.ts";

// Before the rest of Relight loads, which takes about 100 ms, so that an
// early SIGHUP does not end the process.
holdHangups();
const { main } = await import("./cli/main.ts");

const code = await main(process.argv.slice(2));
process.exitCode = code;

// The process normally ends here on its own. The timer ends it anyway if a
// library left a socket or timer open after shutdown, without cutting off
// output that is still being written.
setTimeout(() => process.exit(code), 1000).unref();
