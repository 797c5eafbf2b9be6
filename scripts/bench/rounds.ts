/**
 * Alternating rounds: every contestant is measured once per round, in an
 * order rotated each round, so that drift in the machine's load is spread
 * over all of them instead of landing on the contestant that runs last.
 */
import type { Contestant } from "./contestants.ts";
import type { RunSettings } from "./report.ts";

export interface BenchContext {
  settings: RunSettings;
  contestants: Contestant[];
  log(line: string): void;
}

/** Runs `measure` for each contestant in each round and returns the results by contestant name. */
export async function inRounds<T>(
  context: BenchContext,
  contestants: Contestant[],
  label: string,
  measure: (contestant: Contestant) => Promise<T>,
): Promise<Map<string, T[]>> {
  const results = new Map<string, T[]>(contestants.map((c) => [c.name, []]));
  for (let round = 0; round < context.settings.rounds; round++) {
    const order = contestants.map((_, i) => contestants[(i + round) % contestants.length]!);
    for (const contestant of order) {
      context.log(`${label}: round ${round + 1}/${context.settings.rounds}, ${contestant.name}`);
      results.get(contestant.name)!.push(await measure(contestant));
    }
  }
  return results;
}

/** Returns `relight / other` for a metric, or NaN when either is missing. */
export function ratio(values: Map<string, number>, other: string): number {
  const relight = values.get("relight");
  const base = values.get(other);
  if (relight === undefined || base === undefined || base === 0) return Number.NaN;
  return relight / base;
}
