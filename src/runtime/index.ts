/**
 * Picks the runtime adapter for the runtime this process runs on. This is the
 * only place that checks which runtime it is.
 */
import type { Runtime } from "./types.ts";

export type * from "./types.ts";

async function loadRuntime(): Promise<Runtime> {
  if ("Deno" in globalThis) {
    // A computed specifier keeps the Deno adapter out of the Bun binary and
    // out of the Bun type-check, where `Deno.*` does not exist.
    const denoAdapter = "./deno.ts";
    const { denoRuntime } = (await import(denoAdapter)) as { denoRuntime: Runtime };
    return denoRuntime;
  }
  const { bunRuntime } = await import("./bun.ts");
  return bunRuntime;
}

export const runtime: Runtime = await loadRuntime();
