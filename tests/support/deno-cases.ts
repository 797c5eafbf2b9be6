/**
 * Registers runtime-neutral case groups with `deno test`. Each case becomes
 * its own test named "group > case", so Deno's summary counts cases the way
 * `bun test` does.
 */
import { type CaseGroup, defaultCaseTimeoutMs } from "./cases.ts";

/** Time limit for a group's `beforeAll` and `afterAll`, in ms, as in the Bun registrar. */
const hookTimeoutMs = 60_000;

/** Rejects when `work` takes longer than `timeoutMs`, because `Deno.test` has no time limit. */
async function withTimeout(work: Promise<void> | void, timeoutMs: number, name: string) {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${name} timed out after ${timeoutMs} ms`)),
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
  // Deno runs a file's tests in registration order, so the first case to run
  // starts `beforeAll` and the last registered case runs `afterAll`.
  // NOTE: when `--filter` skips the last case, `afterAll` does not run.
  let setup: Promise<void> | undefined;
  const lastIndex = group.cases.length - 1;

  group.cases.forEach((testCase, index) => {
    Deno.test({
      name: `${group.name} > ${testCase.name}`,
      // Groups start child processes and servers in `beforeAll` that outlive
      // one case, which the op and resource sanitizers would report.
      sanitizeOps: false,
      sanitizeResources: false,
      fn: async () => {
        setup ??= withTimeout(group.beforeAll?.(), hookTimeoutMs, `${group.name} beforeAll`);
        try {
          await setup;
          const timeoutMs = testCase.timeoutMs ?? defaultCaseTimeoutMs;
          await withTimeout(testCase.run(), timeoutMs, testCase.name);
        } finally {
          if (index === lastIndex && group.afterAll) {
            await withTimeout(group.afterAll(), hookTimeoutMs, `${group.name} afterAll`);
          }
        }
      },
    });
  });
}
