/**
 * The Slicer REST API as the simulator serves it: routing, Bearer auth,
 * fault injection and the handlers, over plain `Request`/`Response`.
 */
import { timingSafeEqual } from "node:crypto";
import { getLogger } from "../log.ts";
import { acceptsConnections } from "./app-process.ts";
import { parseDurationMs } from "./duration.ts";
import type { Faults } from "./faults.ts";
import type { Endpoint } from "./types.ts";
import { ApiError, type Vm, type VmRegistry } from "./vms.ts";

const logger = getLogger("sim");

/** Version reported by `GET /info`: the API version the simulator follows. */
const simulatedVersion = "0.1.71";

/** Default `timeout` of a create call with `wait`, as slicerd documents it. */
const defaultCreateWaitMs = 5 * 60_000;

const arch = process.arch === "x64" ? "amd64" : process.arch;

interface Route {
  endpoint: Endpoint;
  methods: string[];
  group?: string;
  hostname?: string;
}

/**
 * Matches a request to a Slicer endpoint. A path with a trailing slash matches
 * nothing, because slicerd rejects some paths written that way.
 */
export function matchRoute(method: string, path: string): Route | undefined {
  let segments: string[];
  try {
    segments = path.split("/").slice(1).map((segment) => decodeURIComponent(segment));
  } catch {
    return undefined;
  }
  if (segments.some((segment) => segment === "")) return undefined;
  const [first, second, third, fourth] = segments;

  if (segments.length === 1) {
    if (first === "healthz") return { endpoint: "healthz", methods: ["GET", "HEAD"] };
    if (first === "info") return { endpoint: "info", methods: ["GET"] };
    if (first === "hostgroup") return { endpoint: "hostgroup", methods: ["GET"] };
    if (first === "nodes") return { endpoint: "nodes", methods: ["GET"] };
  }
  if (first === "hostgroup" && second !== undefined && third === "nodes") {
    if (segments.length === 3) {
      const endpoint = method === "POST" ? "create" : "hostgroup_nodes";
      return { endpoint, methods: ["GET", "POST"], group: second };
    }
    if (segments.length === 4 && fourth !== undefined) {
      return { endpoint: "delete", methods: ["DELETE"], group: second, hostname: fourth };
    }
  }
  if (first === "vm" && second !== undefined && segments.length === 3) {
    if (third === "health") {
      return { endpoint: "health", methods: ["GET", "HEAD"], hostname: second };
    }
    if (third === "pause") return { endpoint: "pause", methods: ["POST"], hostname: second };
    if (third === "resume") return { endpoint: "resume", methods: ["POST"], hostname: second };
    if (third === "relaunch") return { endpoint: "relaunch", methods: ["POST"], hostname: second };
  }
  return undefined;
}

export function jsonResponse(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json" },
  });
}

export function errorResponse(status: number, message: string): Response {
  return jsonResponse(status, { error: message });
}

function textResponse(status: number, text: string): Response {
  return new Response(text, { status, headers: { "content-type": "text/plain; charset=utf-8" } });
}

/** Compares a request's `Authorization` header with the token in constant time. */
export function isAuthorized(request: Request, token: string | undefined): boolean {
  if (token === undefined) return true;
  const header = request.headers.get("authorization") ?? "";
  const expected = Buffer.from(`Bearer ${token}`);
  const received = Buffer.from(header);
  return received.length === expected.length && timingSafeEqual(received, expected);
}

function nodeJson(vm: Vm) {
  return {
    hostname: vm.hostname,
    hostgroup: vm.group.name,
    ip: vm.ip,
    ram_bytes: vm.group.ramBytes,
    cpus: vm.group.cpus,
    created_at: vm.createdAt.toISOString(),
    arch,
    tags: [...vm.tags],
    status: vm.status,
    persistent: false,
  };
}

/** Body of the create and relaunch responses, with the address in CIDR form as slicerd returns it. */
function createdJson(vm: Vm) {
  return {
    hostname: vm.hostname,
    hostgroup: vm.group.name,
    ip: `${vm.ip}/24`,
    created_at: vm.createdAt.toISOString(),
    arch,
  };
}

/** Filters VMs by `?tag=` (exact) or `?tag_prefix=`, and raises a 400 when both are set. */
function filterByTag(vms: Vm[], query: URLSearchParams): Vm[] {
  const tag = query.get("tag");
  const prefix = query.get("tag_prefix");
  if (tag !== null && prefix !== null) {
    throw new ApiError(400, "only one of tag and tag_prefix may be set");
  }
  if (tag !== null) return vms.filter((vm) => vm.tags.includes(tag));
  if (prefix !== null) return vms.filter((vm) => vm.tags.some((t) => t.startsWith(prefix)));
  return vms;
}

async function readCreateRequest(request: Request): Promise<{ tags: string[] }> {
  let body: unknown;
  try {
    body = await request.json();
  } catch {
    throw new ApiError(400, "invalid request body: expected a JSON object");
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new ApiError(400, "invalid request body: expected a JSON object");
  }
  const tags = (body as { tags?: unknown }).tags ?? [];
  if (!Array.isArray(tags) || !tags.every((tag) => typeof tag === "string")) {
    throw new ApiError(400, "invalid tags: expected an array of strings");
  }
  return { tags };
}

function readWaitMs(query: URLSearchParams): number | undefined {
  const wait = query.get("wait");
  if (wait === null) return undefined;
  if (wait !== "agent" && wait !== "userdata") {
    throw new ApiError(400, `invalid wait "${wait}": use agent or userdata`);
  }
  const timeout = query.get("timeout");
  if (timeout === null) return defaultCreateWaitMs;
  try {
    return parseDurationMs(timeout);
  } catch (error) {
    throw new ApiError(400, (error as Error).message);
  }
}

export interface ApiDependencies {
  registry: VmRegistry;
  faults: Faults;
  token: string | undefined;
}

async function handleRoute(
  route: Route,
  request: Request,
  deps: ApiDependencies,
): Promise<Response> {
  const { registry } = deps;
  const url = new URL(request.url);

  switch (route.endpoint) {
    case "healthz":
      return textResponse(200, "OK");
    case "info":
      return jsonResponse(200, { version: simulatedVersion, git_commit: "simulator" });
    case "hostgroup":
      return jsonResponse(
        200,
        registry.groups().map((group) => ({
          name: group.name,
          count: registry.vms().filter((vm) => vm.group === group).length,
          ram_bytes: group.ramBytes,
          cpus: group.cpus,
          gpu_count: 0,
          arch,
        })),
      );
    case "nodes":
      return jsonResponse(200, filterByTag(registry.vms(), url.searchParams).map(nodeJson));
    case "hostgroup_nodes": {
      const group = route.group ?? "";
      if (!registry.group(group)) throw new ApiError(404, `host group not found: ${group}`);
      const members = registry.vms().filter((vm) => vm.group.name === group);
      return jsonResponse(200, filterByTag(members, url.searchParams).map(nodeJson));
    }
    case "create": {
      const group = route.group ?? "";
      const waitMs = readWaitMs(url.searchParams);
      const spec = await readCreateRequest(request);
      const vm = await registry.create(group, spec, waitMs);
      // The API description lists both 200 and 201 for a create, so clients must accept either.
      return jsonResponse(201, createdJson(vm));
    }
    case "delete": {
      const vm = registry.get(route.hostname ?? "");
      if (!vm || vm.group.name !== route.group) {
        throw new ApiError(404, `node not found: ${route.hostname} in host group ${route.group}`);
      }
      await registry.delete(vm.hostname);
      return jsonResponse(200, { message: "Node deleted", disk_removed: "true" });
    }
    case "health":
      return await handleHealth(registry.require(route.hostname ?? ""), request);
    case "pause":
      await registry.pause(route.hostname ?? "");
      return textResponse(200, "Pause initiated");
    case "resume":
      await registry.resume(route.hostname ?? "");
      return textResponse(200, "Resume initiated");
    case "relaunch":
      return jsonResponse(200, createdJson(await registry.relaunch(route.hostname ?? "")));
  }
}

/** Returns 200 only while the VM runs and its app accepts TCP connections, and raises a 500 otherwise. */
async function handleHealth(vm: Vm, request: Request): Promise<Response> {
  // NOTE: what slicerd returns for a paused VM's health is not documented.
  // The simulator fails at once, where slicerd might wait for the agent.
  if (vm.status !== "Running" || !vm.app) {
    throw new ApiError(
      500,
      `agent of VM ${vm.hostname} is not reachable: the VM is ${vm.status.toLowerCase()}`,
    );
  }
  if (!(await acceptsConnections(vm.ip, vm.group.appPort))) {
    throw new ApiError(500, `agent of VM ${vm.hostname} is not ready`);
  }
  if (request.method === "HEAD") return new Response(null, { status: 200 });

  const uptimeSeconds = Math.floor((Date.now() - vm.app.startedAt) / 1000);
  return jsonResponse(200, {
    hostname: vm.hostname,
    agent_uptime: uptimeSeconds,
    agent_version: `${simulatedVersion}-sim`,
    system_uptime: uptimeSeconds,
    userdata_ran: true,
  });
}

/** Builds the request handler of the Slicer API. */
export function createApiHandler(deps: ApiDependencies): (request: Request) => Promise<Response> {
  return async (request) => {
    const url = new URL(request.url);
    const route = matchRoute(request.method, url.pathname);
    if (!route) return errorResponse(404, `not found: ${url.pathname}`);

    deps.faults.record({
      method: request.method,
      path: url.pathname + url.search,
      endpoint: route.endpoint,
      ...(route.hostname === undefined ? {} : { hostname: route.hostname }),
      time: Date.now(),
    });

    const failure = await deps.faults.apply(route.endpoint);
    if (failure) return errorResponse(failure.status, failure.message);

    if (route.endpoint !== "healthz" && !isAuthorized(request, deps.token)) {
      return errorResponse(401, "missing or invalid bearer token");
    }
    if (!route.methods.includes(request.method)) {
      const response = errorResponse(
        405,
        `method ${request.method} not allowed on ${url.pathname}`,
      );
      response.headers.set("allow", route.methods.join(", "));
      return response;
    }

    try {
      return await handleRoute(route, request, deps);
    } catch (error) {
      if (error instanceof ApiError) return errorResponse(error.status, error.message);
      logger.error("api call failed", { path: url.pathname, error: String(error) });
      return errorResponse(500, `internal error: ${(error as Error).message}`);
    }
  };
}
