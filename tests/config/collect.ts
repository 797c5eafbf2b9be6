/**
 * Builds a runtime-neutral `CaseGroup` with `describe`/`test` calls, so that
 * table-driven config tests read like ordinary test files and still run
 * under both `bun test` and `deno test`.
 */
import type { CaseGroup, TestCase } from "../support/cases.ts";

export class CaseCollector {
  readonly #cases: TestCase[] = [];
  #prefix = "";

  constructor(readonly name: string) {}

  /** Names the cases that `define` adds with a shared prefix. */
  describe = (prefix: string, define: () => void): void => {
    const outer = this.#prefix;
    this.#prefix = outer === "" ? prefix : `${outer} ${prefix}`;
    define();
    this.#prefix = outer;
  };

  test = (name: string, run: () => Promise<void> | void): void => {
    const fullName = this.#prefix === "" ? name : `${this.#prefix}: ${name}`;
    this.#cases.push({ name: fullName, run });
  };

  /** Returns the group of every case added so far. */
  group(hooks: Pick<CaseGroup, "beforeAll" | "afterAll"> = {}): CaseGroup {
    return { name: this.name, cases: [...this.#cases], ...hooks };
  }
}

/** Asserts that `text` contains `part`, showing the text when it does not. */
export function assertIncludes(text: string, part: string): void {
  if (!text.includes(part)) {
    throw new Error(`expected text to contain ${JSON.stringify(part)}, got:\n${text}`);
  }
}

/** Asserts that `text` does not contain `part`. */
export function assertExcludes(text: string, part: string): void {
  if (text.includes(part)) {
    throw new Error(`expected text not to contain ${JSON.stringify(part)}, got:\n${text}`);
  }
}

/** Asserts that `text` starts with `prefix`, showing the text when it does not. */
export function assertStartsWith(text: string | undefined, prefix: string): void {
  if (text === undefined || !text.startsWith(prefix)) {
    throw new Error(`expected text to start with ${JSON.stringify(prefix)}, got:\n${text}`);
  }
}
