/**
 * Extracts the JSON schemas from the Slicer API's published OpenAPI
 * description into `tests/sim/fixtures/slicer-schemas.json`, which the
 * simulator's contract tests validate against. Descriptions and examples are
 * dropped, because validation needs only the structure.
 *
 * Usage: bun scripts/update-slicer-schemas.ts PATH/TO/openapi.yaml
 */
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parse as parseYaml } from "yaml";

/** Path of the extracted schemas file. */
export const schemasPath = fileURLToPath(
  new URL("../tests/sim/fixtures/slicer-schemas.json", import.meta.url),
);

interface OpenApiDocument {
  info?: { version?: string };
  components?: { schemas?: Record<string, unknown> };
}

function stripDocumentation(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stripDocumentation);
  if (value === null || typeof value !== "object") return value;

  const result: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(value)) {
    if (key === "description" || key === "example") continue;
    result[key] = stripDocumentation(child);
  }
  return result;
}

/** Returns the schemas file's text for an OpenAPI description's text. */
export function extractSchemas(openapiText: string): string {
  // The published description (API version 0.1.71) defines SlicerExecResult
  // twice, so duplicate keys are allowed and the later copy wins.
  const document = parseYaml(openapiText, { uniqueKeys: false }) as OpenApiDocument;
  const schemas = document.components?.schemas;
  if (schemas === undefined) throw new Error("the OpenAPI description has no components.schemas");

  const output = {
    source: "slicervm/docs.slicervm.com openapi.yaml, MIT licence (see slicer-api.LICENSE)",
    apiVersion: document.info?.version ?? "unknown",
    schemas: stripDocumentation(schemas),
  };
  return `${JSON.stringify(output, null, 2)}\n`;
}

if (import.meta.main) {
  const input = process.argv[2];
  if (input === undefined) {
    console.error("usage: bun scripts/update-slicer-schemas.ts PATH/TO/openapi.yaml");
    process.exit(2);
  }
  writeFileSync(schemasPath, extractSchemas(readFileSync(input, "utf8")));
  console.log(`wrote ${schemasPath}`);
}
