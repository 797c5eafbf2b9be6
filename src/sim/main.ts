/**
 * Runs the Slicer simulator stand-alone:
 *
 *   npm run sim -- --fleet FILE [--socket PATH] [--listen HOST:PORT]
 *                  [--control HOST:PORT] [--token T] [--resume-delay 500ms]
 *
 * It stops every VM and removes the socket on SIGINT or SIGTERM.
 */
import { parseArgs } from "node:util";
import { configureLogging } from "../logging/index.ts";
import { parseDurationMs } from "./duration.ts";
import { loadFleetFile, startSimulator } from "./index.ts";
import type { ListenAddress, Simulator, SimulatorOptions } from "./types.ts";

const usage = `Usage: npm run sim -- --fleet FILE [options]

Serves the Slicer REST API with simulated VMs.

Options:
  --fleet FILE          fleet YAML: host groups and the VMs to create (required)
  --socket PATH         unix socket for the API (mode 0600, removed on exit)
  --listen HOST:PORT    loopback HTTP listener for the API and the /_sim/ control API
  --control HOST:PORT   separate listener for the /_sim/ control API only
  --token TOKEN         require "Authorization: Bearer TOKEN" (also read from SLICER_TOKEN)
  --resume-delay DUR    delay between a resume call and the VM running, such as 500ms (default 0)
  --address-prefix P    first three octets of VM addresses, such as 127.70.3 (default: random)
  -h, --help            print this help

Without --socket or --listen, the API listens on 127.0.0.1:8080.`;

function parseListen(text: string, option: string): ListenAddress {
  const match = /^(.+):(\d+)$/.exec(text);
  const port = Number(match?.[2]);
  if (!match || port > 65535) {
    throw new RangeError(`Invalid ${option} "${text}": use HOST:PORT, such as 127.0.0.1:8080`);
  }
  return { hostname: (match[1] ?? "").replace(/^\[(.*)\]$/, "$1"), port };
}

function readOptions(argv: string[]): SimulatorOptions | undefined {
  const { values } = parseArgs({
    args: argv,
    options: {
      fleet: { type: "string" },
      socket: { type: "string" },
      listen: { type: "string" },
      control: { type: "string" },
      token: { type: "string" },
      "resume-delay": { type: "string" },
      "address-prefix": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  if (values.help) return undefined;
  if (values.fleet === undefined) throw new Error("Missing --fleet FILE: name a fleet YAML file");

  const options: SimulatorOptions = { fleet: loadFleetFile(values.fleet), vmOutput: "inherit" };
  if (values.socket !== undefined) options.socketPath = values.socket;
  if (values.listen !== undefined) options.http = parseListen(values.listen, "--listen");
  if (values.socket === undefined && values.listen === undefined) {
    options.http = { hostname: "127.0.0.1", port: 8080 };
  }
  if (values.control !== undefined) options.controlHttp = parseListen(values.control, "--control");
  const token = values.token ?? process.env.SLICER_TOKEN;
  if (token !== undefined && token !== "") options.token = token;
  if (values["resume-delay"] !== undefined) {
    options.resumeDelayMs = parseDurationMs(values["resume-delay"]);
  }
  if (values["address-prefix"] !== undefined) options.addressPrefix = values["address-prefix"];
  return options;
}

async function main(): Promise<number> {
  let options: SimulatorOptions | undefined;
  try {
    options = readOptions(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`sim: ${(error as Error).message}\n\n${usage}\n`);
    return 2;
  }
  if (!options) {
    process.stdout.write(`${usage}\n`);
    return 0;
  }

  const logging = configureLogging(
    { level: "info", format: "text", access: false },
    { secrets: [options.token] },
  );
  // Listening before the start means a signal during the start still stops
  // the VMs already created instead of killing this process and leaving them.
  const stopRequested = new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });

  let simulator: Simulator;
  try {
    simulator = await startSimulator(options);
  } catch (error) {
    process.stderr.write(`sim: ${(error as Error).message}\n`);
    logging.close();
    return 1;
  }
  process.stdout.write(`${formatBanner(simulator)}\n`);

  await stopRequested;
  await simulator.stop();
  logging.close();
  return 0;
}

function formatBanner(simulator: Simulator): string {
  const lines = ["Slicer simulator ready"];
  if (simulator.socketPath) lines.push(`  socket:  ${simulator.socketPath}`);
  if (simulator.url) lines.push(`  url:     ${simulator.url}`);
  if (simulator.controlUrl) lines.push(`  control: ${simulator.controlUrl}/_sim/`);
  for (const vm of simulator.control.listVms()) {
    const address = `${vm.ip}:${vm.appPort}`;
    lines.push(`  ${vm.hostname}  ${vm.status.padEnd(7)}  ${address}  [${vm.tags.join(", ")}]`);
  }
  return lines.join("\n");
}

process.exitCode = await main();
