/**
 * Registers runtime-neutral case groups with `deno test`. Each group becomes
 * one test and each case one step, so `deno test` counts cases as steps.
 */
import { type CaseGroup, defaultCaseTimeoutMs } from "./cases.ts";

/** Rejects when `work` takes longer than `timeoutMs`, because `Deno.test` has no time limit. */
async function withTimeout(work: Promise<void> | void, timeoutMs: number, name: string) {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`case timed out after ${timeoutMs} ms: ${name}`)),
      timeoutMs,
    );
  });
  try {
    await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export function registerDenoCases(group: CaseGroup): void {
  Deno.test({
    name: group.name,
    // Groups start child processes and servers in `beforeAll` that outlive
    // single steps, which the op and resource sanitizers would report.
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async (t) => {
      if (group.beforeAll) await withTimeout(group.beforeAll(), 60_000, `${group.name} beforeAll`);
      try {
        for (const testCase of group.cases) {
          await t.step({
            name: testCase.name,
            sanitizeOps: false,
            sanitizeResources: false,
            fn: () =>
              withTimeout(
                testCase.run(),
                testCase.timeoutMs ?? defaultCaseTimeoutMs,
                testCase.name,
              ),
          });
        }
      } finally {
        if (group.afterAll) await withTimeout(group.afterAll(), 60_000, `${group.name} afterAll`);
      }
    },
  });
}
