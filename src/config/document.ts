/**
 * The YAML side of loading: parsing with positions, environment expansion in
 * scalar values, and turning a key path into `file:line:col`.
 */
import {
  isAlias,
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  parse,
  parseDocument,
  visit,
  type YAMLError,
} from "yaml";
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
  /** Source offset of a point inside the value, used in place of the value's start. */
  offset?: number;
}

/**
 * Limit on alias expansion, passed to the yaml library's `maxAliasCount`.
 * It stops a "billion laughs" document, whose nested aliases expand
 * exponentially, before it fills memory.
 */
const MAX_ALIAS_COUNT = 100;

/** A parsed document and the helpers that locate its nodes. */
export class ConfigDocument {
  readonly #document: Document.Parsed;
  readonly #lines: LineCounter;
  readonly #file: string;
  readonly #text: string;

  private constructor(document: Document.Parsed, lines: LineCounter, file: string, text: string) {
    this.#document = document;
    this.#lines = lines;
    this.#file = file;
    this.#text = text;
  }

  /** Parses `text`, returning the document or its syntax errors as messages. */
  static parse(text: string, file: string): ConfigDocument | string[] {
    const lines = new LineCounter();
    const document = parseDocument(text, { lineCounter: lines, prettyErrors: false });
    const parsed = new ConfigDocument(document, lines, file, text);

    if (document.errors.length === 0) return parsed;
    return document.errors.map((error) => parsed.#formatSyntaxError(error));
  }

  #formatSyntaxError(error: YAMLError): string {
    const offset = error.pos[0];
    if (error.code === "DUPLICATE_KEY") {
      const key = this.#keyAt(offset);
      const name = key === undefined ? "" : ` ${JSON.stringify(key)}`;
      return this.#at(
        offset,
        `invalid YAML: duplicate key${name} (each key may appear once in a mapping)`,
      );
    }
    const message = error.message.split("\n")[0] ?? error.message;
    return this.#at(offset, `invalid YAML: ${message}`);
  }

  /** Finds the scalar mapping key that starts at `offset`. */
  #keyAt(offset: number): string | undefined {
    let found: string | undefined;
    visit(this.#document, {
      Pair: (_, pair) => {
        if (!isScalar(pair.key) || pair.key.range?.[0] !== offset) return undefined;
        found = String(pair.key.value);
        return visit.BREAK;
      },
    });
    return found;
  }

  #at(offset: number, message: string): string {
    const { line, col } = this.#lines.linePos(offset);
    return `${this.#file}:${line}:${col}: ${message}`;
  }

  /** Expands environment references in every scalar value, returning a problem for each failure. */
  expandEnvironment(env: Environment): Problem[] {
    const problems: Problem[] = [];
    walk(this.#document.contents, [], (node, path) => {
      if (typeof node.value !== "string" || !hasEnvReference(node.value)) return;

      const expansion = expandEnv(node.value, env);
      if (expansion.value === undefined) {
        for (const error of expansion.errors) {
          const offset = this.#sourceOffset(node, node.value, error.index);
          problems.push({
            path,
            at: "value",
            message: error.message,
            ...(offset === undefined ? {} : { offset }),
          });
        }
        return;
      }

      // An unquoted `${PORT}` becomes the number or boolean it expands to, as
      // if the value had been written in place.
      node.value = node.type === "PLAIN" ? retype(expansion.value) : expansion.value;
    });
    return problems;
  }

  /**
   * Finds where `value[index]` of a scalar is written in the source. It
   * returns undefined when the text there differs, as after an escape
   * sequence or a folded line break, and the caller points at the scalar.
   */
  #sourceOffset(node: Node, value: string, index: number): number | undefined {
    const start = node.range?.[0];
    if (start === undefined) return undefined;

    const quoted = /^["']/.test(this.#text.slice(start, start + 1));
    const offset = start + (quoted ? 1 : 0) + index;
    const written = value.slice(index, index + 2);
    return this.#text.startsWith(written, offset) ? offset : undefined;
  }

  /**
   * Returns the document's data as plain JavaScript values, or the message
   * when converting fails, such as when aliases expand past `MAX_ALIAS_COUNT`.
   */
  toJS(): { data: unknown } | { error: string } {
    try {
      return { data: this.#document.toJS({ maxAliasCount: MAX_ALIAS_COUNT }) };
    } catch (error) {
      // yaml 2.9.1 throws a ReferenceError for too many aliases. Anything else
      // thrown while converting a parsed document is also a problem with
      // the file, so it is reported the same way and never as a crash.
      const detail = error instanceof ReferenceError && /alias/i.test(error.message)
        ? `aliases expand to too many nodes (the yaml maxAliasCount limit is ${MAX_ALIAS_COUNT}; write the values out instead)`
        : String(error instanceof Error ? error.message : error);
      return { error: this.#at(this.#firstAliasOffset(), `invalid YAML: ${detail}`) };
    }
  }

  #firstAliasOffset(): number {
    let offset = rangeStart(this.#document.contents) ?? 0;
    visit(this.#document, {
      Alias: (_, alias) => {
        if (!isAlias(alias) || alias.range === undefined || alias.range === null) return undefined;
        offset = alias.range[0];
        return visit.BREAK;
      },
    });
    return offset;
  }

  /** Returns `file:line:col` of a key path's value (or key), as `format` does. */
  position(path: KeyPath, at: "key" | "value" = "value"): string {
    const { line, col } = this.#lines.linePos(this.#offsetOf(path, at));
    return `${this.#file}:${line}:${col}`;
  }

  /** Returns `file:line:col` of the top-level node, for problems with the whole file. */
  rootPosition(): string {
    return this.position([]);
  }

  /** Formats a problem as `file:line:col: key.path: message`. */
  format(problem: Problem): { offset: number; text: string } {
    const offset = problem.offset ?? this.#offsetOf(problem.path, problem.at);
    const label = formatKeyPath(problem.path);
    const prefix = label === "" ? "" : `${label}: `;
    return { offset, text: this.#at(offset, `${prefix}${problem.message}`) };
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
