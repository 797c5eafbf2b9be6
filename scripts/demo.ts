/**
 * `npm run demo`: runs Relight on the bundled Slicer simulator. It starts the
 * simulator with the fleet in `scripts/demo-fleet.yaml` on a unix socket in
 * a temp dir, starts Relight with the top-level `relight.yaml` pointed at
 * that socket (through `SLICER_URL`), and prints how to reach each app.
 * Ctrl-C stops both and removes the temp dir.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { ConfigError, formatListenAddress, loadConfig } from "../src/config/index.ts";
import { type Relight, startRelight } from "../src/relight.ts";
import { runtime } from "../src/runtime/index.ts";
import { loadFleetFile, type Simulator, startSimulator } from "../src/sim/index.ts";

const repoRoot = fileURLToPath(new URL("../", import.meta.url));
const fleetFile = join(repoRoot, "scripts/demo-fleet.yaml");
const configFile = join(repoRoot, "relight.yaml");

/** Example commands for each demo tag, by what the demo app serves. */
const examples: Record<string, (base: string) => string[]> = {
  hello: (base) => [`curl ${base}/`],
  events: (base) => [`curl -N ${base}/sse`],
  chat: (base) => [
    `curl ${base}/   # the VM starts paused: this request wakes it`,
    `websocat ${base.replace(/^http/, "ws")}/ws   # WebSocket echo, if websocat is installed`,
  ],
};

function describeApps(simulator: Simulator, relight: Relight): string {
  const port = relight.address.port;
  const lines = ["", "Relight demo is running. Try:"];
  for (const vm of simulator.control.listVms()) {
    for (const tag of vm.tags) {
      const base = `http://${tag}.localhost:${port}`;
      const commands = examples[tag]?.(base) ?? [`curl ${base}/`];
      lines.push("", `  ${tag} (${vm.hostname}, ${vm.status.toLowerCase()}):`);
      for (const command of commands) lines.push(`    ${command}`);
    }
  }
  lines.push(
    "",
    `Router: http://${formatListenAddress(relight.address)}`,
  );
  if (relight.adminAddress) {
    lines.push(`Status: curl http://${formatListenAddress(relight.adminAddress)}/status`);
  }
  lines.push("Press Ctrl-C to stop.", "");
  return lines.join("\n");
}

async function main(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), "relight-demo-"));
  const socketPath = join(dir, "slicer.sock");
  let simulator: Simulator | undefined;
  let relight: Relight | undefined;

  const cleanUp = async () => {
    await relight?.shutdown();
    await simulator?.stop();
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    simulator = await startSimulator({ socketPath, fleet: loadFleetFile(fleetFile) });
    const config = await loadConfig(configFile, { ...process.env, SLICER_URL: socketPath });
    relight = await startRelight(config, { logging: {} });
  } catch (error) {
    await cleanUp();
    if (error instanceof ConfigError) {
      for (const message of error.messages) process.stderr.write(`${message}\n`);
      return 2;
    }
    process.stderr.write(
      `demo: failed to start: ${error instanceof Error ? error.message : error}\n`,
    );
    return 1;
  }

  process.stdout.write(describeApps(simulator, relight));

  await new Promise<void>((resolve) => {
    const removers = [runtime.onSignal("SIGINT", stop), runtime.onSignal("SIGTERM", stop)];
    function stop() {
      for (const remove of removers) remove();
      resolve();
    }
  });
  await cleanUp();
  return 0;
}

process.exitCode = await main();
