/**
 * The YAML side of loading: parsing with positions, environment expansion in
 * scalar values, and turning a key path into `file:line:col`.
 */
import { isMap, isPair, isScalar, isSeq, LineCounter, parse, parseDocument } from "yaml";
import type { Document, Node } from "yaml";
import { type Environment, expandEnv, hasEnvReference } from "./env.ts";

/** A key path into the document: mapping keys and list indexes. */
export type KeyPath = readonly (string | number)[];

/** One problem found, with the place it points at. */
export interface Problem {
  path: KeyPath;
  /** Whether the position is the key itself (unknown keys) or its value. */
  at: "key" | "value";
  message: string;
}

/** A parsed document and the helpers that locate its nodes. */
export class ConfigDocument {
  readonly #document: Document.Parsed;
  readonly #lines: LineCounter;
  readonly #file: string;

  private constructor(document: Document.Parsed, lines: LineCounter, file: string) {
    this.#document = document;
    this.#lines = lines;
    this.#file = file;
  }

  /** Parses `text`, returning the document or its syntax errors as messages. */
  static parse(text: string, file: string): ConfigDocument | string[] {
    const lines = new LineCounter();
    const document = parseDocument(text, { lineCounter: lines, prettyErrors: false });

    if (document.errors.length === 0) return new ConfigDocument(document, lines, file);

    return document.errors.map((error) => {
      const { line, col } = lines.linePos(error.pos[0]);
      const message = error.message.split("\n")[0] ?? error.message;
      return `${file}:${line}:${col}: invalid YAML: ${message}`;
    });
  }

  /** Expands environment references in every scalar value, returning a problem for each failure. */
  expandEnvironment(env: Environment): Problem[] {
    const problems: Problem[] = [];
    walk(this.#document.contents, [], (node, path) => {
      if (typeof node.value !== "string" || !hasEnvReference(node.value)) return;

      const expansion = expandEnv(node.value, env);
      if (expansion.value === undefined) {
        for (const message of expansion.errors) problems.push({ path, at: "value", message });
        return;
      }

      // An unquoted `${PORT}` becomes the number or boolean it expands to, as
      // if the value had been written in place.
      node.value = node.type === "PLAIN" ? retype(expansion.value) : expansion.value;
    });
    return problems;
  }

  /** Returns the document's data as plain JavaScript values. */
  toJS(): unknown {
    return this.#document.toJS();
  }

  /** Formats a problem as `file:line:col: key.path: message`. */
  format(problem: Problem): { offset: number; text: string } {
    const offset = this.#offsetOf(problem.path, problem.at);
    const { line, col } = this.#lines.linePos(offset);
    const label = formatKeyPath(problem.path);
    const prefix = label === "" ? "" : `${label}: `;
    return { offset, text: `${this.#file}:${line}:${col}: ${prefix}${problem.message}` };
  }

  /**
   * Finds the start offset of a key path's value (or key). A path that does
   * not exist, such as a missing required key, points at its nearest
   * existing parent.
   */
  #offsetOf(path: KeyPath, at: "key" | "value"): number {
    let node: unknown = this.#document.contents;
    let offset = rangeStart(node) ?? 0;

    for (const [index, key] of path.entries()) {
      const isLast = index === path.length - 1;

      if (isMap(node)) {
        const pair = node.items.find((item) =>
          isScalar(item.key) && String(item.key.value) === key
        );
        if (pair === undefined) return offset;
        if (isLast && at === "key") return rangeStart(pair.key) ?? offset;
        node = pair.value;
        offset = rangeStart(pair.value) ?? rangeStart(pair.key) ?? offset;
      } else if (isSeq(node) && typeof key === "number") {
        node = node.items[key];
        offset = rangeStart(node) ?? offset;
      } else {
        return offset;
      }
    }
    return offset;
  }
}

/** Formats a key path as `sites[0].match`. */
export function formatKeyPath(path: KeyPath): string {
  let label = "";
  for (const key of path) {
    if (typeof key === "number") label += `[${key}]`;
    else label += label === "" ? key : `.${key}`;
  }
  return label;
}

function rangeStart(node: unknown): number | undefined {
  if (isScalar(node) || isMap(node) || isSeq(node)) return node.range?.[0];
  return undefined;
}

/** Calls `visit` for every scalar value (not key) with its key path. */
function walk(
  node: unknown,
  path: (string | number)[],
  visit: (node: Node & { value: unknown; type?: string | undefined }, path: KeyPath) => void,
): void {
  if (isScalar(node)) {
    visit(node, path);
  } else if (isMap(node)) {
    for (const pair of node.items) {
      if (!isPair(pair)) continue;
      const key = isScalar(pair.key) ? String(pair.key.value) : "?";
      walk(pair.value, [...path, key], visit);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, index) => walk(item, [...path, index], visit));
  }
}

/** Reads an expanded plain scalar as YAML would: numbers and booleans keep their type. */
function retype(text: string): unknown {
  try {
    const value: unknown = parse(text);
    if (typeof value === "number" || typeof value === "boolean") return value;
  } catch {
    // Not a scalar YAML value on its own; keep the text.
  }
  return text;
}
