/**
 * The annotated relight.yaml at the top of the repository documents every key
 * the loader accepts, and no key it rejects. Commented-out keys count, so the
 * file can show optional keys without setting them.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { createSchema } from "../../src/config/schema.ts";
import { CaseCollector } from "./collect.ts";

const collector = new CaseCollector("annotated relight.yaml");
const { test } = collector;

const examplePath = fileURLToPath(new URL("../../relight.yaml", import.meta.url));

/** The parts of a valibot schema object that lead to nested keys. */
interface SchemaNode {
  type?: string;
  entries?: Record<string, SchemaNode>;
  wrapped?: SchemaNode;
  item?: SchemaNode;
}

/** Lists the dotted path of every mapping key in `schema`, list items included without index. */
function schemaKeyPaths(schema: SchemaNode, prefix = ""): string[] {
  if (schema.wrapped !== undefined) return schemaKeyPaths(schema.wrapped, prefix);
  if (schema.item !== undefined) return schemaKeyPaths(schema.item, prefix);
  if (schema.entries === undefined) return [];

  return Object.entries(schema.entries).flatMap(([key, value]) => {
    const path = prefix === "" ? key : `${prefix}.${key}`;
    return [path, ...schemaKeyPaths(value, path)];
  });
}

/**
 * Lists the dotted path of every key written in the file, commented out or
 * not. A commented-out key loses its `# ` and keeps its indentation, so
 * `  #   host_group:` under `sites:` reads as `sites.host_group`.
 */
function documentedKeyPaths(text: string): string[] {
  const stack: { indent: number; key: string }[] = [];
  const paths: string[] = [];

  for (const rawLine of text.split("\n")) {
    const line = rawLine.replace(/^(\s*)# ?/, "$1");
    const match = /^(\s*)(- +)?([a-z_]+):(\s|$)/.exec(line);
    if (match === null) continue;

    const indent = (match[1] ?? "").length + (match[2] ?? "").length;
    const key = match[3] ?? "";
    while ((stack.at(-1)?.indent ?? -1) >= indent) stack.pop();
    stack.push({ indent, key });
    paths.push(stack.map((entry) => entry.key).join("."));
  }
  return paths;
}

test("documents every accepted key", () => {
  const accepted = schemaKeyPaths(createSchema({ env: {}, baseDir: "/" }) as SchemaNode);
  const documented = new Set(documentedKeyPaths(readFileSync(examplePath, "utf8")));

  const missing = accepted.filter((path) => !documented.has(path));
  assert.deepEqual(missing, []);
});

test("documents no unknown key", () => {
  const accepted = new Set(
    schemaKeyPaths(createSchema({ env: {}, baseDir: "/" }) as SchemaNode),
  );
  const documented = documentedKeyPaths(readFileSync(examplePath, "utf8"));

  const unknown = documented.filter((path) => !accepted.has(path));
  assert.deepEqual(unknown, []);
});

test("key scan reads nested and commented keys", () => {
  const text = [
    "listen: :80",
    "# tls:",
    "#   acme:",
    "#     email: ops@example.com",
    "sites:",
    '  - match: "*"',
    "  # - match: x",
    "  #   app_port: 3000",
  ].join("\n");

  assert.deepEqual(documentedKeyPaths(text), [
    "listen",
    "tls",
    "tls.acme",
    "tls.acme.email",
    "sites",
    "sites.match",
    "sites.match",
    "sites.app_port",
  ]);
});

export const documentedCases = collector.group();
