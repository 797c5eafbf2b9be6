/** Loading and validation of fleet files: host groups and the VMs to create at start. */
import { readFileSync } from "node:fs";
import * as v from "valibot";
import { parse as parseYaml } from "yaml";
import type { Fleet } from "./types.ts";

const nameSchema = v.pipe(
  v.string(),
  v.regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/, "use lowercase letters, digits and dashes"),
);

const fleetSchema = v.strictObject({
  host_groups: v.array(
    v.strictObject({
      name: nameSchema,
      app_port: v.optional(
        v.pipe(
          v.number(),
          v.integer(),
          v.minValue(1),
          v.maxValue(65535, "use a port from 1 to 65535"),
        ),
      ),
      command: v.optional(
        v.union([
          v.pipe(v.string(), v.minLength(1, "use a non-empty command")),
          v.pipe(v.array(v.string()), v.minLength(1, "use a non-empty argv")),
        ]),
      ),
      ram_bytes: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0))),
      cpus: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1))),
      vms: v.optional(
        v.array(
          v.strictObject({
            tags: v.array(v.string()),
            status: v.optional(v.picklist(["Running", "Paused", "Stopped"])),
          }),
        ),
      ),
    }),
  ),
});

/**
 * Validates a parsed fleet document. `source` names it in errors, which list
 * each invalid field by its path.
 */
export function parseFleet(document: unknown, source = "fleet"): Fleet {
  const result = v.safeParse(fleetSchema, document);
  if (!result.success) {
    const problems = result.issues.map((issue) => {
      const path = v.getDotPath(issue) ?? "(root)";
      return `${path}: ${issue.message}`;
    });
    throw new Error(`Invalid fleet ${source}: ${problems.join("; ")}`);
  }

  const fleet = result.output as Fleet;
  const names = new Set<string>();
  for (const group of fleet.host_groups) {
    if (names.has(group.name)) {
      throw new Error(`Invalid fleet ${source}: host group "${group.name}" is defined twice`);
    }
    names.add(group.name);
  }
  return fleet;
}

/** Reads and validates a fleet YAML file. */
export function loadFleetFile(path: string): Fleet {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new Error(`Cannot read fleet file ${path}: ${(error as Error).message}`);
  }
  let document: unknown;
  try {
    document = parseYaml(text);
  } catch (error) {
    throw new Error(`Invalid fleet file ${path}: ${(error as Error).message}`);
  }
  return parseFleet(document, `file ${path}`);
}
