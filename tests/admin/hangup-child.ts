/**
 * A child process for the signal tests: installs the SIGHUP handler of the
 * entry point and prints a line for each SIGHUP it noted.
 */
import process from "node:process";
import { holdHangups, takeHangup } from "../../src/cli/hangup.ts";

holdHangups();
let hangups = 0;
setInterval(() => {
  if (!takeHangup()) return;
  hangups += 1;
  process.stdout.write(`hangup ${hangups}\n`);
}, 10);
process.stdout.write("held\n");
