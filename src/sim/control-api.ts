/**
 * The `/_sim/` HTTP control API: the programmatic `SimulatorControl` over
 * HTTP, for the stand-alone simulator. Request and response bodies are JSON.
 *
 *   GET    /_sim/vms                     list VMs
 *   POST   /_sim/vms                     {"group", "tags", "status"?} create a VM
 *   GET    /_sim/vms/{hostname}          one VM
 *   DELETE /_sim/vms/{hostname}          delete a VM
 *   POST   /_sim/vms/{hostname}/pause    pause behind the router's back
 *   POST   /_sim/vms/{hostname}/resume   resume at once
 *   POST   /_sim/vms/{hostname}/stop     stop its app (status Stopped)
 *   POST   /_sim/vms/{hostname}/move     restart on a new address: {"ip"}
 *   PUT    /_sim/resume-delay            {"ms"}
 *   PUT    /_sim/latency                 {"endpoint", "ms"}
 *   POST   /_sim/fail-next               {"endpoint", "count", "status"}
 *   PUT    /_sim/hang                    {"endpoint", "on"}
 *   PUT    /_sim/down                    {"down", "for_ms"?}
 *   GET    /_sim/calls?endpoint=&hostname=   {"calls", "count"}
 *   DELETE /_sim/calls
 */
import { errorResponse, isAuthorized, jsonResponse } from "./api.ts";
import { type Endpoint, endpoints, type SimulatorControl, type VmStatus } from "./types.ts";
import { ApiError } from "./vms.ts";

export const controlPrefix = "/_sim/";

type Body = Record<string, unknown>;

async function readBody(request: Request): Promise<Body> {
  let body: unknown;
  try {
    body = await request.json();
  } catch {
    throw new ApiError(400, "invalid request body: expected a JSON object");
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new ApiError(400, "invalid request body: expected a JSON object");
  }
  return body as Body;
}

function readEndpoint(value: unknown): Endpoint {
  if (typeof value === "string" && (endpoints as readonly string[]).includes(value)) {
    return value as Endpoint;
  }
  throw new ApiError(
    400,
    `invalid endpoint ${JSON.stringify(value)}: use one of ${endpoints.join(", ")}`,
  );
}

function readInteger(body: Body, name: string): number {
  const value = body[name];
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0) {
    throw new ApiError(400, `invalid ${name} ${JSON.stringify(value)}: use a non-negative integer`);
  }
  return value;
}

function readBoolean(body: Body, name: string): boolean {
  const value = body[name];
  if (typeof value !== "boolean") {
    throw new ApiError(400, `invalid ${name} ${JSON.stringify(value)}: use true or false`);
  }
  return value;
}

function readCreateSpec(body: Body): { group: string; tags: string[]; status?: VmStatus } {
  const { group, tags, status } = body;
  if (typeof group !== "string" || group === "") {
    throw new ApiError(400, "invalid group: expected a host group name");
  }
  if (!Array.isArray(tags) || !tags.every((tag) => typeof tag === "string")) {
    throw new ApiError(400, "invalid tags: expected an array of strings");
  }
  if (status === undefined) return { group, tags };
  if (status !== "Running" && status !== "Paused" && status !== "Stopped") {
    throw new ApiError(
      400,
      `invalid status ${JSON.stringify(status)}: use Running, Paused or Stopped`,
    );
  }
  return { group, tags, status };
}

/**
 * Builds the handler of the control API. `sharesApiListener` is true when it
 * is served on the API listeners, which `PUT /_sim/down` closes. There, `for_ms`
 * is the only way to bring the API back.
 */
export function createControlHandler(
  control: SimulatorControl,
  token: string | undefined,
  sharesApiListener: boolean,
): (request: Request) => Promise<Response> {
  const route = async (request: Request): Promise<Response> => {
    const url = new URL(request.url);
    if (!url.pathname.startsWith(controlPrefix)) {
      throw new ApiError(
        404,
        `not found: ${url.pathname} (the control API is under ${controlPrefix})`,
      );
    }
    const parts = url.pathname.slice(controlPrefix.length).split("/").map(decodeURIComponent);
    const [resource, hostname, action] = parts;
    const method = request.method;

    if (resource === "vms" && parts.length === 1) {
      if (method === "GET") return jsonResponse(200, control.listVms());
      if (method === "POST") {
        const spec = readCreateSpec(await readBody(request));
        const { group, ...vmSpec } = spec;
        return jsonResponse(201, await control.createVm(group, vmSpec));
      }
    }
    if (resource === "vms" && hostname !== undefined) {
      const vm = control.getVm(hostname);
      if (!vm) throw new ApiError(404, `VM not found: ${hostname}`);
      if (parts.length === 2 && method === "GET") return jsonResponse(200, vm);
      if (parts.length === 2 && method === "DELETE") {
        await control.deleteVm(hostname);
        return jsonResponse(200, { deleted: hostname });
      }
      if (parts.length === 3 && method === "POST") {
        if (action === "pause") await control.pauseVm(hostname);
        else if (action === "resume") await control.resumeVm(hostname);
        else if (action === "stop") await control.stopVm(hostname);
        else if (action === "move") {
          return jsonResponse(200, { ip: await control.moveVm(hostname) });
        } else throw new ApiError(404, `not found: ${url.pathname}`);
        return jsonResponse(200, control.getVm(hostname));
      }
    }
    if (parts.length === 1 && method === "PUT") {
      if (resource === "resume-delay") {
        control.setResumeDelay(readInteger(await readBody(request), "ms"));
        return jsonResponse(200, {});
      }
      if (resource === "latency") {
        const body = await readBody(request);
        control.setLatency(readEndpoint(body.endpoint), readInteger(body, "ms"));
        return jsonResponse(200, {});
      }
      if (resource === "hang") {
        const body = await readBody(request);
        control.hang(readEndpoint(body.endpoint), readBoolean(body, "on"));
        return jsonResponse(200, {});
      }
      if (resource === "down") {
        const body = await readBody(request);
        const down = readBoolean(body, "down");
        const forMs = body.for_ms === undefined ? undefined : readInteger(body, "for_ms");
        const apply = () => {
          control.setDown(down);
          if (down && forMs !== undefined) setTimeout(() => control.setDown(false), forMs);
        };
        // Going down would close this very connection on a shared listener,
        // so there the change waits until the response is sent.
        if (sharesApiListener) setTimeout(apply, 10);
        else apply();
        return jsonResponse(200, {});
      }
    }
    if (parts.length === 1 && method === "POST" && resource === "fail-next") {
      const body = await readBody(request);
      control.failNext(
        readEndpoint(body.endpoint),
        readInteger(body, "count"),
        readInteger(body, "status"),
      );
      return jsonResponse(200, {});
    }
    if (parts.length === 1 && resource === "calls") {
      if (method === "DELETE") {
        control.clearCalls();
        return jsonResponse(200, {});
      }
      if (method === "GET") {
        const endpointFilter = url.searchParams.get("endpoint");
        const hostnameFilter = url.searchParams.get("hostname");
        const calls = control.calls().filter((call) =>
          (endpointFilter === null || call.endpoint === endpointFilter) &&
          (hostnameFilter === null || call.hostname === hostnameFilter)
        );
        return jsonResponse(200, { calls, count: calls.length });
      }
    }
    throw new ApiError(404, `not found: ${method} ${url.pathname}`);
  };

  return async (request) => {
    if (!isAuthorized(request, token)) return errorResponse(401, "missing or invalid bearer token");
    try {
      return await route(request);
    } catch (error) {
      if (error instanceof ApiError) return errorResponse(error.status, error.message);
      if (error instanceof RangeError || error instanceof URIError) {
        return errorResponse(400, error.message);
      }
      return errorResponse(500, (error as Error).message);
    }
  };
}
