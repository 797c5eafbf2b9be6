#!/usr/bin/env bun
/** Entry point of the `relight` binary; see `relight --help`. */
import process from "node:process";
import { setTimeout } from "node:timers";
import { main } from "./cli/main.ts";

const code = await main(process.argv.slice(2));
process.exitCode = code;

// The process normally ends here on its own. The timer ends it anyway if a
// library left a socket or timer open after shutdown, without cutting off
// output that is still being written.
setTimeout(() => process.exit(code), 1000).unref();
