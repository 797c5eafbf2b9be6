/**
 * Runs Relight in its own process for the benchmark, from relight.yaml text
 * in the `RELIGHT_CONFIG` environment variable, and prints the router's
 * bound port on its first stdout line. Shuts down on SIGTERM or SIGINT.
 */
import { parseConfig } from "../../src/config/index.ts";
import { startRelight } from "../../src/relight.ts";

const text = process.env["RELIGHT_CONFIG"];
if (!text) throw new Error("RELIGHT_CONFIG is missing: set it to relight.yaml text");

const relight = await startRelight(
  parseConfig(text, { file: "bench.yaml", baseDir: process.cwd() }),
);
process.stdout.write(`${relight.address.port}\n`);

await new Promise<void>((resolve) => {
  process.once("SIGINT", resolve);
  process.once("SIGTERM", resolve);
});
await relight.shutdown();
process.exit(0);
