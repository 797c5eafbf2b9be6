/**
 * Contract tests: every JSON body the simulator returns validates against the
 * schemas of the published Slicer OpenAPI description, and status codes,
 * content types and address formats match it.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import Ajv from "ajv";
import { extractSchemas } from "../../scripts/update-slicer-schemas.ts";
import { demoFleet, startTestSimulator, type TestSimulator } from "./helpers.ts";

const schemasFile = fileURLToPath(new URL("./fixtures/slicer-schemas.json", import.meta.url));

/** The published OpenAPI description, beside the repository in this project's workspace. */
const publishedDescription = fileURLToPath(
  new URL("../../../shared/slicer-api/openapi.yaml", import.meta.url),
);

interface OpenApiDocument {
  components: { schemas: Record<string, { properties?: Record<string, unknown> }> };
}

// The schemas come from the Slicer API's OpenAPI description (API version
// 0.1.71), extracted by scripts/update-slicer-schemas.ts. A missing file fails
// this file at load time rather than skipping it.
const schemasText = readFileSync(schemasFile, "utf8");
const openapi = {
  components: { schemas: JSON.parse(schemasText).schemas },
} as OpenApiDocument;

const ajv = new Ajv({ allErrors: true });
// `components` contains the schemas that `$ref`s point into, and `example` is OpenAPI documentation.
ajv.addVocabulary(["components", "example"]);
ajv.addFormat("date-time", {
  type: "string",
  validate: (text: string) =>
    /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(text),
});
for (const format of ["int64", "uint64", "uint32"]) {
  ajv.addFormat(format, { type: "number", validate: (value: number) => Number.isInteger(value) });
}
ajv.addFormat("float", { type: "number", validate: () => true });
ajv.addSchema({ $id: "slicer", components: openapi.components });

/** Fields that slicerd sends beyond the published schemas. */
const documentedExtras: Record<string, string[]> = { NodeResponse: ["persistent"] };

/** Checks `body` against a named schema, and that it sends no field the schema lacks. */
function expectSchema(schemaName: string, body: unknown): void {
  const validate = ajv.getSchema(`slicer#/components/schemas/${schemaName}`);
  if (!validate) throw new Error(`schema ${schemaName} is not in ${schemasFile}`);
  const valid = validate(body);
  expect(ajv.errorsText(validate.errors)).toBe("No errors");
  expect(valid).toBe(true);

  const declared = Object.keys(openapi.components.schemas[schemaName]?.properties ?? {});
  const allowed = new Set([...declared, ...(documentedExtras[schemaName] ?? [])]);
  const unknown = Object.keys(body as object).filter((key) => !allowed.has(key));
  expect(unknown).toEqual([]);
}

function expectSchemaArray(schemaName: string, body: unknown): void {
  expect(Array.isArray(body)).toBe(true);
  for (const item of body as unknown[]) expectSchema(schemaName, item);
}

async function expectJsonError(response: Response, status: number): Promise<void> {
  expect(response.status).toBe(status);
  expect(response.headers.get("content-type")).toBe("application/json");
  const body = await response.json();
  expectSchema("ErrorResponse", body);
  expect((body as { error: string }).error.length).toBeGreaterThan(0);
}

let sim: TestSimulator;

beforeAll(async () => {
  sim = await startTestSimulator({
    fleet: {
      host_groups: [
        ...demoFleet([{ tags: ["hello", "team=web"] }, { tags: ["chat"], status: "Paused" }])
          .host_groups,
        { name: "stopped", app_port: 9000, vms: [{ tags: ["idle"], status: "Stopped" }] },
      ],
    },
  });
});

afterAll(async () => {
  await sim.stop();
});

describe("slicer API contract", () => {
  test("healthz answers OK as text", async () => {
    const response = await sim.api("/healthz");
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toStartWith("text/plain");
    expect(await response.text()).toBe("OK");
  });

  test("info matches SlicerInfo", async () => {
    const response = await sim.api("/info");
    expect(response.status).toBe(200);
    expectSchema("SlicerInfo", await response.json());
  });

  test("hostgroup list matches SlicerHostGroup", async () => {
    const response = await sim.api("/hostgroup");
    expect(response.status).toBe(200);
    const body = await response.json();
    expectSchemaArray("SlicerHostGroup", body);
    expect(body.map((group: { name: string }) => group.name)).toEqual(["apps", "stopped"]);
  });

  test("nodes match NodeResponse with plain IPs", async () => {
    const response = await sim.api("/nodes");
    expect(response.status).toBe(200);
    const body = await response.json();
    expectSchemaArray("NodeResponse", body);
    expect(body.map((node: { hostname: string }) => node.hostname)).toEqual([
      "apps-1",
      "apps-2",
      "stopped-1",
    ]);
    expect(body.map((node: { status: string }) => node.status)).toEqual([
      "Running",
      "Paused",
      "Stopped",
    ]);
    for (const node of body as { ip: string }[]) {
      expect(node.ip).toMatch(/^127\.\d+\.\d+\.\d+$/);
    }
  });

  test("nodes filter by exact tag", async () => {
    const body = await (await sim.api("/nodes?tag=hello")).json();
    expect(body.map((node: { hostname: string }) => node.hostname)).toEqual(["apps-1"]);
    const partial = await (await sim.api("/nodes?tag=hell")).json();
    expect(partial).toEqual([]);
  });

  test("nodes filter by tag prefix", async () => {
    const body = await (await sim.api("/nodes?tag_prefix=team=")).json();
    expect(body.map((node: { hostname: string }) => node.hostname)).toEqual(["apps-1"]);
  });

  test("tag with tag_prefix is a 400", async () => {
    await expectJsonError(await sim.api("/nodes?tag=a&tag_prefix=b"), 400);
    await expectJsonError(await sim.api("/hostgroup/apps/nodes?tag=a&tag_prefix=b"), 400);
  });

  test("hostgroup nodes match NodeResponse", async () => {
    const response = await sim.api("/hostgroup/apps/nodes");
    expect(response.status).toBe(200);
    const body = await response.json();
    expectSchemaArray("NodeResponse", body);
    expect(body.map((node: { hostname: string }) => node.hostname)).toEqual(["apps-1", "apps-2"]);
  });

  test("unknown host group is a 404", async () => {
    await expectJsonError(await sim.api("/hostgroup/nope/nodes"), 404);
    const create = await sim.api("/hostgroup/nope/nodes", {
      method: "POST",
      body: JSON.stringify({ tags: ["x"] }),
    });
    await expectJsonError(create, 404);
  });

  test("unknown VM is a 404 on every VM endpoint", async () => {
    await expectJsonError(await sim.api("/vm/apps-99/health"), 404);
    await expectJsonError(await sim.api("/vm/apps-99/pause", { method: "POST" }), 404);
    await expectJsonError(await sim.api("/vm/apps-99/resume", { method: "POST" }), 404);
    await expectJsonError(await sim.api("/vm/apps-99/relaunch", { method: "POST" }), 404);
    await expectJsonError(
      await sim.api("/hostgroup/apps/nodes/apps-99", { method: "DELETE" }),
      404,
    );
  });

  test("unknown path and trailing slash are 404", async () => {
    await expectJsonError(await sim.api("/nope"), 404);
    await expectJsonError(await sim.api("/nodes/"), 404);
  });

  test("wrong method is a 405", async () => {
    await expectJsonError(await sim.api("/nodes", { method: "POST" }), 405);
    await expectJsonError(await sim.api("/vm/apps-1/pause"), 405);
  });

  test("health matches SlicerAgentHealthResponse", async () => {
    const response = await sim.api("/vm/apps-1/health");
    expect(response.status).toBe(200);
    expectSchema("SlicerAgentHealthResponse", await response.json());
  });

  test("health HEAD has no body", async () => {
    const response = await sim.api("/vm/apps-1/health", { method: "HEAD" });
    expect(response.status).toBe(200);
    expect(await response.text()).toBe("");
  });

  test("health of a paused VM is a 500", async () => {
    await expectJsonError(await sim.api("/vm/apps-2/health"), 500);
  });

  test("pause and resume answer text/plain", async () => {
    const pause = await sim.api("/vm/apps-1/pause", { method: "POST" });
    expect(pause.status).toBe(200);
    expect(pause.headers.get("content-type")).toStartWith("text/plain");
    expect(await pause.text()).toBe("Pause initiated");

    const resume = await sim.api("/vm/apps-1/resume", { method: "POST" });
    expect(resume.status).toBe(200);
    expect(resume.headers.get("content-type")).toStartWith("text/plain");
    expect(await resume.text()).toBe("Resume initiated");
  });

  test("create answers a CIDR address and a new hostname", async () => {
    const response = await sim.api("/hostgroup/apps/nodes?wait=agent&timeout=20s", {
      method: "POST",
      body: JSON.stringify({ tags: ["created"] }),
    });
    expect(response.status).toBe(201);
    const body = await response.json();
    expectSchema("SlicerCreateNodeResponse", body);
    expect(body.hostname).toBe("apps-3");
    expect(body.hostgroup).toBe("apps");
    expect(body.ip).toMatch(/^127\.\d+\.\d+\.\d+\/24$/);

    const health = await sim.api("/vm/apps-3/health");
    expect(health.status).toBe(200);
  });

  test("create rejects invalid input with 400", async () => {
    const badJson = await sim.api("/hostgroup/apps/nodes", { method: "POST", body: "{" });
    await expectJsonError(badJson, 400);
    const badTags = await sim.api("/hostgroup/apps/nodes", {
      method: "POST",
      body: JSON.stringify({ tags: [1] }),
    });
    await expectJsonError(badTags, 400);
    const badWait = await sim.api("/hostgroup/apps/nodes?wait=forever", {
      method: "POST",
      body: JSON.stringify({ tags: [] }),
    });
    await expectJsonError(badWait, 400);
    const badTimeout = await sim.api("/hostgroup/apps/nodes?wait=agent&timeout=soon", {
      method: "POST",
      body: JSON.stringify({ tags: [] }),
    });
    await expectJsonError(badTimeout, 400);
  });

  test("create that is not ready in time is a 408", async () => {
    const response = await sim.api("/hostgroup/stopped/nodes?wait=agent&timeout=1ms", {
      method: "POST",
      body: JSON.stringify({ tags: ["late"] }),
    });
    await expectJsonError(response, 408);
    const nodes = await (await sim.api("/nodes?tag=late")).json();
    expect(nodes).toEqual([]);
  });

  test("delete matches SlicerDeleteResponse", async () => {
    const created = await sim.simulator.control.createVm("apps", { tags: ["doomed"] });
    const wrongGroup = await sim.api(`/hostgroup/stopped/nodes/${created.hostname}`, {
      method: "DELETE",
    });
    await expectJsonError(wrongGroup, 404);

    const response = await sim.api(`/hostgroup/apps/nodes/${created.hostname}`, {
      method: "DELETE",
    });
    expect(response.status).toBe(200);
    expectSchema("SlicerDeleteResponse", await response.json());
    expect(sim.simulator.control.getVm(created.hostname)).toBeUndefined();
  });

  test("relaunch starts a stopped VM", async () => {
    const running = await sim.api("/vm/apps-1/relaunch", { method: "POST" });
    await expectJsonError(running, 409);

    const response = await sim.api("/vm/stopped-1/relaunch", { method: "POST" });
    expect(response.status).toBe(200);
    const body = await response.json();
    expectSchema("SlicerCreateNodeResponse", body);
    expect(body.ip).toMatch(/\/24$/);
    expect(sim.simulator.control.getVm("stopped-1")?.status).toBe("Running");
  });

  test("pause of a stopped VM is a 500", async () => {
    const created = await sim.simulator.control.createVm("apps", {
      tags: ["off"],
      status: "Stopped",
    });
    await expectJsonError(await sim.api(`/vm/${created.hostname}/pause`, { method: "POST" }), 500);
    await expectJsonError(await sim.api(`/vm/${created.hostname}/resume`, { method: "POST" }), 500);
    await expectJsonError(await sim.api(`/vm/${created.hostname}/health`), 500);
  });
});

describe("slicer API auth", () => {
  let authSim: TestSimulator;

  beforeAll(async () => {
    authSim = await startTestSimulator({
      token: "s3cret-token",
      fleet: demoFleet([{ tags: ["a"] }]),
    });
  });

  afterAll(async () => {
    await authSim.stop();
  });

  test("missing token is a 401", async () => {
    await expectJsonError(await authSim.api("/nodes"), 401);
  });

  test("wrong token is a 401", async () => {
    const response = await authSim.api("/nodes", { headers: { authorization: "Bearer wrong" } });
    await expectJsonError(response, 401);
  });

  test("right token is accepted", async () => {
    const response = await authSim.api("/nodes", {
      headers: { authorization: "Bearer s3cret-token" },
    });
    expect(response.status).toBe(200);
    expectSchemaArray("NodeResponse", await response.json());
  });

  test("401 on every guarded endpoint", async () => {
    for (
      const [method, path] of [
        ["GET", "/info"],
        ["GET", "/hostgroup"],
        ["GET", "/hostgroup/apps/nodes"],
        ["POST", "/hostgroup/apps/nodes"],
        ["DELETE", "/hostgroup/apps/nodes/apps-1"],
        ["GET", "/vm/apps-1/health"],
        ["POST", "/vm/apps-1/pause"],
        ["POST", "/vm/apps-1/resume"],
        ["POST", "/vm/apps-1/relaunch"],
      ] as const
    ) {
      const response = await authSim.api(path, { method });
      expect(`${method} ${path} ${response.status}`).toBe(`${method} ${path} 401`);
    }
    expect(authSim.simulator.control.getVm("apps-1")?.status).toBe("Running");
  });

  test("healthz needs no token", async () => {
    const response = await authSim.api("/healthz");
    expect(response.status).toBe(200);
  });

  test("control API needs the token", async () => {
    await expectJsonError(await authSim.api("/_sim/vms"), 401);
    const response = await authSim.api("/_sim/vms", {
      headers: { authorization: "Bearer s3cret-token" },
    });
    expect(response.status).toBe(200);
  });
});

describe("slicer API schemas", () => {
  // The extracted schemas must stay in step with the published description.
  // The check runs where a copy of it is at hand, and a clone without one
  // still validates against the extracted file above.
  test.skipIf(!existsSync(publishedDescription))("match the published description", () => {
    expect(extractSchemas(readFileSync(publishedDescription, "utf8"))).toBe(schemasText);
  });
});
