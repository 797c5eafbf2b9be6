/**
 * The admin API on `admin.listen`: Prometheus metrics, health, status, manual
 * wake and pause of a VM, and config reload. Every route except `/healthz`
 * requires `Authorization: Bearer <admin.token>` when a token is configured.
 * Without a token, every route requires a loopback Host. State-changing
 * routes reject requests that a browser marks as cross-origin.
 */
import { Hono } from "hono";
import type { ListenAddress } from "../config/types.ts";
import { getLogger } from "../log.ts";
import { type RunningServer, runtime } from "../runtime/index.ts";
import type { StatusReport, VmState } from "../status.ts";
import { isAuthorized } from "./auth.ts";
import { checkCrossOrigin, checkLoopbackHost } from "./request-origin.ts";
import type { RelightMetrics } from "./metrics.ts";

/** Result of a manual wake or pause. */
export type ControlResult =
  | { outcome: "ok"; state: VmState }
  | { outcome: "not_found" }
  /** Pause rejected because connections are open and `force` was not set. */
  | { outcome: "busy"; inFlightRequests: number; openWebSockets: number }
  | { outcome: "failed"; error: string };

/** Result of a reload: the new config is in effect, or it was invalid and the old one is kept. */
export type ReloadResult = { ok: true } | { ok: false; errors: string[] };

/** The part of the running router that the admin API calls. */
export interface AdminRouter {
  status(): StatusReport;
  /** Whether the proxy listeners accept requests; false once shutdown began. */
  serving(): boolean;
  wake(hostname: string): Promise<ControlResult>;
  /** Pauses a VM; unless `force`, rejects with "busy" while requests or WebSockets are open. */
  pause(hostname: string, force: boolean): Promise<ControlResult>;
  /** Re-reads the config file and applies it. */
  reload(): Promise<ReloadResult>;
}

export interface AdminOptions {
  router: AdminRouter;
  metrics: RelightMetrics;
  /** Bearer token required on every route except `/healthz`; none when undefined. */
  token?: string | undefined;
  /**
   * Max time since slicerd last responded, and since the VM index was last
   * refreshed successfully, before `/healthz` returns 503, in ms.
   */
  healthMaxSilenceMs: number;
  /** Clock for the health check, in ms since the epoch. Default `Date.now`. */
  now?: () => number;
}

interface AdminEnv {
  Bindings: { remoteAddress: string };
}

const log = getLogger("admin");

function parseForce(value: string | undefined): boolean | undefined {
  if (value === undefined || value === "0" || value === "false") return false;
  if (value === "1" || value === "true") return true;
  return undefined;
}

/**
 * Returns why Relight is unhealthy, or undefined when it is healthy. A
 * response from slicerd is not enough, because every `/nodes` response can be
 * invalid, and then the VM index goes stale and new VMs and IP changes are missed.
 */
function checkHealth(options: AdminOptions): string | undefined {
  if (!options.router.serving()) return "relight is not serving";

  const { slicer, index } = options.router.status();
  const now = (options.now ?? Date.now)();
  if (slicer.lastAnswerAt === null) return "slicerd has not answered since start";

  const silentMs = now - Date.parse(slicer.lastAnswerAt);
  if (silentMs > options.healthMaxSilenceMs) {
    return `slicerd has not answered for ${Math.round(silentMs / 1000)}s`;
  }

  if (index.refreshedAt === null) return "the VM index has not been refreshed since start";

  const indexAgeMs = now - Date.parse(index.refreshedAt);
  if (indexAgeMs > options.healthMaxSilenceMs) {
    return `the VM index was last refreshed ${Math.round(indexAgeMs / 1000)}s ago`;
  }
  return undefined;
}

function controlResponse(hostname: string, result: ControlResult): Response {
  switch (result.outcome) {
    case "ok":
      return Response.json({ hostname, state: result.state });
    case "not_found":
      return Response.json({ error: `VM not found: ${hostname}` }, { status: 404 });
    case "busy":
      return Response.json({
        error: `VM ${hostname} has open connections; add ?force=1 to pause it anyway`,
        inFlightRequests: result.inFlightRequests,
        openWebSockets: result.openWebSockets,
      }, { status: 409 });
    case "failed":
      return Response.json({ error: result.error }, { status: 502 });
  }
}

/**
 * Builds the admin API as a Hono app; `startAdminServer` serves it. Later
 * changes to `options.token` and `options.healthMaxSilenceMs` apply to the
 * next request.
 */
export function createAdminApp(options: AdminOptions): Hono<AdminEnv> {
  const app = new Hono<AdminEnv>();

  // A token stops a rebound or cross-site page by itself, because the page
  // cannot know it, and a public listener with a token is reached under any
  // name. So the Host check applies only without a token.
  app.use("*", async (c, next) => {
    const hostProblem = options.token === undefined
      ? checkLoopbackHost(c.req.header("host"))
      : undefined;
    const problem = hostProblem ?? checkCrossOrigin(c.req.method, c.req.raw.headers);
    if (problem === undefined) return await next();

    log.warning("admin request rejected", {
      method: c.req.method,
      path: c.req.path,
      reason: problem,
      remote_address: c.env.remoteAddress,
    });
    return c.json({ error: `request rejected: ${problem}` }, 403);
  });

  app.get("/healthz", (c) => {
    const reason = checkHealth(options);
    if (reason !== undefined) return c.json({ status: "unavailable", reason }, 503);
    return c.json({ status: "ok" });
  });

  // The token is read on each request, so a reload that changes it takes
  // effect without restarting the server.
  app.use("*", async (c, next) => {
    const token = options.token;
    if (token === undefined || isAuthorized(c.req.header("authorization"), token)) {
      return await next();
    }

    log.warning("admin request unauthorized", {
      method: c.req.method,
      path: c.req.path,
      remote_address: c.env.remoteAddress,
    });
    c.header("WWW-Authenticate", 'Bearer realm="relight admin"');
    return c.json({ error: "missing or invalid bearer token" }, 401);
  });

  app.get("/metrics", async (c) => {
    const body = await options.metrics.render();
    return c.body(body, 200, { "content-type": options.metrics.contentType });
  });

  app.get("/status", (c) => c.json(options.router.status()));

  app.post("/vms/:hostname/wake", async (c) => {
    const hostname = c.req.param("hostname");
    log.info("manual wake requested", { vm: hostname });
    return controlResponse(hostname, await options.router.wake(hostname));
  });

  app.post("/vms/:hostname/pause", async (c) => {
    const hostname = c.req.param("hostname");
    const force = parseForce(c.req.query("force"));
    if (force === undefined) {
      return c.json({
        error: `invalid force value ${JSON.stringify(c.req.query("force"))} (use 1 or 0)`,
      }, 400);
    }
    log.info("manual pause requested", { vm: hostname, force });
    return controlResponse(hostname, await options.router.pause(hostname, force));
  });

  app.post("/reload", async (c) => {
    const result = await options.router.reload();
    if (result.ok) return c.json({ status: "reloaded" });
    return c.json({ status: "rejected", errors: result.errors }, 422);
  });

  // RFC 9110 section 15.5.6: a known path with another method gets 405 and
  // `Allow`. Hono answers HEAD through the GET route.
  const allowedMethods: ReadonlyArray<[path: string, allow: string]> = [
    ["/healthz", "GET, HEAD"],
    ["/metrics", "GET, HEAD"],
    ["/status", "GET, HEAD"],
    ["/vms/:hostname/wake", "POST"],
    ["/vms/:hostname/pause", "POST"],
    ["/reload", "POST"],
  ];
  for (const [path, allow] of allowedMethods) {
    app.all(path, (c) => {
      c.header("allow", allow);
      return c.json(
        { error: `method not allowed: ${c.req.method} ${c.req.path} (use ${allow})` },
        405,
      );
    });
  }

  app.notFound((c) => c.json({ error: `not found: ${c.req.method} ${c.req.path}` }, 404));

  app.onError((error, c) => {
    log.error("admin request failed", { method: c.req.method, path: c.req.path, error });
    return c.json({ error: "internal error" }, 500);
  });

  return app;
}

/** Serves the admin API on `listen` through the runtime adapter. */
export function startAdminServer(listen: ListenAddress, options: AdminOptions): RunningServer {
  const app = createAdminApp(options);
  const server = runtime.serve({
    hostname: listen.hostname,
    port: listen.port,
    handler: (request, context) => app.fetch(request, { remoteAddress: context.remoteAddress }),
  });
  log.info("admin server listening", { address: `${server.hostname}:${server.port}` });
  return server;
}
