/**
 * Runtime-neutral test cases. Behaviour tests are written once as lists of
 * cases that assert with `node:assert/strict`. `bun test` registers them
 * through `registerBunCases` and `deno test` through `registerDenoCases`, so
 * both runtimes run the same source.
 */

export interface TestCase {
  name: string;
  run(): Promise<void> | void;
  /** Per-case limit in ms; default 15 s. */
  timeoutMs?: number;
}

export interface CaseGroup {
  name: string;
  cases: TestCase[];
  /** Runs once before the group's cases. */
  beforeAll?(): Promise<void> | void;
  /** Runs once after them, also when a case failed. */
  afterAll?(): Promise<void> | void;
}

/** Default per-case time limit, in ms. */
export const defaultCaseTimeoutMs = 15_000;
