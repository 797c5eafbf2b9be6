/**
 * A child process for the watchdog test. It starts a simulator on the socket
 * path given as the first argument, with one running and one paused VM, and
 * prints `pids PID PID`. The app is a bare HTTP server because the demo app
 * exits by itself when its parent dies. The process then waits to be killed.
 */
import process from "node:process";
import { startSimulator } from "../../src/sim/index.ts";

const socketPath = process.argv[2];
if (socketPath === undefined) throw new Error("Missing argument: the socket path");

const bareServer = `require("node:http")
  .createServer((request, response) => response.end("ok"))
  .listen(Number(process.env.PORT), process.env.HOST);`;

const simulator = await startSimulator({
  socketPath,
  fleet: {
    host_groups: [{
      name: "apps",
      command: [process.execPath, "-e", bareServer],
      vms: [{ tags: ["running"] }, { tags: ["paused"], status: "Paused" }],
    }],
  },
});

const pids = simulator.control.listVms().map((vm) => vm.pid);
process.stdout.write(`pids ${pids.join(" ")}\n`);

// Keeps the event loop alive until the test kills this process.
setInterval(() => {}, 60_000);
