/** Registers runtime-neutral case groups with `bun test`. */
import { afterAll, beforeAll, describe, test } from "bun:test";
import { type CaseGroup, defaultCaseTimeoutMs } from "./cases.ts";

export function registerBunCases(group: CaseGroup): void {
  describe(group.name, () => {
    if (group.beforeAll) beforeAll(group.beforeAll, 60_000);
    if (group.afterAll) afterAll(group.afterAll, 60_000);
    for (const testCase of group.cases) {
      test(testCase.name, testCase.run, testCase.timeoutMs ?? defaultCaseTimeoutMs);
    }
  });
}
