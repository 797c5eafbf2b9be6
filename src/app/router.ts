/**
 * The router's request handler: Host to site to VM, wake when needed, then
 * hand the request to the proxy. Built on Hono with one catch-all route,
 * because every path belongs to the app behind the host.
 */
import { Hono } from "hono";
import type { SiteConfig } from "../config/types.ts";
import { getLogger } from "../log.ts";
import type { FinishedExchange } from "../logging/access.ts";
import type { Observer } from "../observe.ts";
import { type ProxyOptions, proxyRequest, UpstreamConnectError } from "../proxy/index.ts";
import { InvalidHostError, normalizeHost } from "../routing/host.ts";
import { matchSite, type SiteRoute } from "../routing/sites.ts";
import type { RequestContext, RequestHandler } from "../runtime/index.ts";
import type { Fleet } from "../vm/fleet.ts";
import { WakeError } from "../vm/errors.ts";
import type { Vm } from "../vm/vm.ts";
import { errorResponse } from "./responses.ts";

const log = getLogger("router");

/** Router state read on each request; `sites` and `proxyOptions` change on reload. */
export interface RouterState {
  fleet: Fleet;
  observer: Observer;
  sites(): readonly SiteConfig[];
  proxyOptions(): ProxyOptions;
  /** Called once for each request that `handleRequest` responds to, when its exchange is over. */
  exchangeEnded?: (exchange: FinishedExchange) => void;
}

/**
 * Time without response headers after which the index is refreshed to learn
 * whether the VM was paused, in ms. A VM paused behind Relight's back accepts
 * connections but never responds, so waiting for a connect error would wait
 * forever.
 */
const stallThresholdMs = 1000;

/** nginx's status for a client that disconnected before the response was ready. */
const clientClosedRequest = 499;

/**
 * Statuses for methods that never reach an app. Relight is no forward proxy,
 * so it has no tunnel to open for CONNECT (RFC 9110 section 9.3.6), and
 * TRACE would echo the request, including any credentials a front proxy
 * added, back to the client. Neither response carries `Allow`, because the
 * app behind the host decides which methods it allows.
 */
const rejectedMethods: ReadonlyMap<string, number> = new Map([
  ["CONNECT", 501],
  ["TRACE", 405],
]);

/** Result of finding the VM for a request: a VM, or the status to respond with. */
type Resolution = { vm: Vm; route: SiteRoute } | { status: number; route?: SiteRoute };

/** Finds the VM that serves `hostname`, refreshing the index for an unknown host. */
export async function resolveHost(state: RouterState, hostname: string): Promise<Resolution> {
  const route = matchSite(state.sites(), hostname);
  if (route === undefined) return { status: 404 };

  const known = state.fleet.find(route);
  if (known) return { vm: known, route };

  try {
    await state.fleet.refreshForUnknownHost(hostname);
  } catch {
    // slicerd is down and this host is not in the index: it may be a VM that
    // Relight has not seen yet, so respond 503, not 404.
    return { status: 503, route };
  }
  const found = state.fleet.find(route);
  return found ? { vm: found, route } : { status: 404, route };
}

function isWebSocketUpgrade(request: Request): boolean {
  const upgrade = request.headers.get("upgrade");
  if (upgrade === null) return false;
  return upgrade.split(",").some((token) => token.trim().toLowerCase() === "websocket");
}

function statusForWakeError(error: WakeError): number {
  return error.result === "resume_failed" ? 502 : 503;
}

/** Handles one request for the router's listener. */
export async function handleRequest(
  state: RouterState,
  request: Request,
  context: RequestContext,
): Promise<Response> {
  const started = performance.now();
  const endExchange = (status: number, bytes: number | undefined, truncated = false) => {
    state.exchangeEnded?.({
      request,
      remoteAddress: context.remoteAddress,
      status,
      durationMs: performance.now() - started,
      bytes: bytes ?? null,
      truncated,
    });
  };

  const rejectedStatus = rejectedMethods.get(request.method);
  if (rejectedStatus !== undefined) {
    log.debug("method rejected", { method: request.method });
    const response = failWith(
      request,
      rejectedStatus,
      (bytes) => endExchange(rejectedStatus, bytes),
    );
    // After a CONNECT the client may send tunnel bytes that are no HTTP request.
    if (request.method === "CONNECT") response.headers.set("connection", "close");
    return response;
  }

  let hostname: string;
  try {
    const host = request.headers.get("host");
    hostname = normalizeHost(host);
    checkTargetAuthority(request.url, host ?? "");
  } catch (error) {
    if (!(error instanceof InvalidHostError)) throw error;
    log.debug("invalid host", { error: error.message });
    return failWith(request, 400, (bytes) => endExchange(400, bytes));
  }

  const resolution = await resolveHost(state, hostname);
  if ("status" in resolution) {
    const status = resolution.status;
    const app = resolution.route?.site.pattern;
    if (app !== undefined) {
      state.observer.requestFinished(app, status, performance.now() - started);
    }
    return failWith(request, status, (bytes) => endExchange(status, bytes));
  }

  const { vm, route } = resolution;
  const claim = vm.claim(isWebSocketUpgrade(request) ? "websocket" : "request");
  const finish = (status: number, bytes?: number, truncated?: boolean) => {
    claim.release();
    state.observer.requestFinished(vm.hostname, status, performance.now() - started);
    endExchange(status, bytes, truncated);
  };

  const failure = await waitForVm(vm, route, context);
  if (failure !== undefined) return failWith(request, failure, (bytes) => finish(failure, bytes));

  return await forward(state, request, context, vm, route, finish);
}

/**
 * Throws `InvalidHostError` when the request target's authority names
 * another host than `Host`. With an absolute-form target such as
 * `GET http://a/ HTTP/1.1`, RFC 9112 section 3.2.2 requires the target's
 * authority to replace `Host`, so routing by `Host` would serve another app
 * than the one requested. Such requests are rejected rather than rerouted.
 *
 * NOTE: Deno 2.9.6 builds `request.url` from an absolute-form target, so the
 * mismatch is caught there. Bun 1.4.5 builds it from `Host` and drops the
 * target's authority, so on Bun the request is routed by `Host`.
 */
function checkTargetAuthority(url: string, host: string): void {
  // Both sides go through the URL parser, which the runtimes also use to
  // build `request.url`, so `[0:0::1]` and `[::1]` compare equal.
  const target = urlHostname(url);
  const expected = urlHostname(`http://${host}/`);
  if (target === undefined || target !== expected) {
    throw new InvalidHostError(
      `request target ${JSON.stringify(url)} names another host than Host ${JSON.stringify(host)}`,
    );
  }
}

/** Returns the URL's hostname without one trailing dot, or undefined when it is invalid. */
function urlHostname(url: string): string | undefined {
  try {
    const hostname = new URL(url).hostname;
    return hostname.endsWith(".") ? hostname.slice(0, -1) : hostname;
  } catch {
    return undefined;
  }
}

/** Builds the error response for `status` and passes its body size to `finish`. */
function failWith(
  request: Request,
  status: number,
  finish: (bytes: number | undefined) => void,
): Response {
  const response = errorResponse(request, status);
  const length = response.headers.get("content-length");
  if (request.method === "HEAD") {
    finish(0);
  } else {
    finish(length === null ? undefined : Number(length));
  }
  return response;
}

/** Waits until `vm` is ready; returns the status to respond with when it is not. */
async function waitForVm(
  vm: Vm,
  route: SiteRoute,
  context: RequestContext,
): Promise<number | undefined> {
  try {
    await vm.ensureReady(route.site.wakeTimeoutMs, context.clientGone);
    return undefined;
  } catch (error) {
    if (context.clientGone.aborted) return clientClosedRequest;
    if (error instanceof WakeError) return statusForWakeError(error);
    log.error("wake failed unexpectedly", { vm: vm.hostname, error: String(error) });
    return 502;
  }
}

/**
 * Proxies the request. When the VM refuses the connection, it was probably
 * paused or moved behind Relight's back: the VM is checked and woken, and a
 * bodiless request is sent again once. A request with a body cannot be
 * replayed, so it gets a 502 while the wake runs on for the next request.
 */
async function forward(
  state: RouterState,
  request: Request,
  context: RequestContext,
  vm: Vm,
  route: SiteRoute,
  finish: (status: number, bytes?: number, truncated?: boolean) => void,
): Promise<Response> {
  const hooks = { onEnd: finish };
  const stallTimer = setTimeout(() => state.fleet.refreshAfterStall(), stallThresholdMs);
  try {
    return await proxyRequest(request, context, upstreamOf(vm), state.proxyOptions(), hooks);
  } catch (error) {
    if (!(error instanceof UpstreamConnectError)) {
      log.error("proxy failed unexpectedly", { vm: vm.hostname, error: String(error) });
      return failWith(request, 502, (bytes) => finish(502, bytes));
    }
    log.warn("upstream connect failed, checking vm", { vm: vm.hostname, ip: vm.ip });
  } finally {
    clearTimeout(stallTimer);
  }

  vm.markSuspect();
  if (request.body !== null) {
    vm.ensureReady(route.site.wakeTimeoutMs).catch(() => undefined);
    return failWith(request, 502, (bytes) => finish(502, bytes));
  }

  const failure = await waitForVm(vm, route, context);
  if (failure !== undefined) return failWith(request, failure, (bytes) => finish(failure, bytes));
  try {
    return await proxyRequest(request, context, upstreamOf(vm), state.proxyOptions(), hooks);
  } catch {
    log.warn("upstream connect failed after wake", { vm: vm.hostname, ip: vm.ip });
    return failWith(request, 502, (bytes) => finish(502, bytes));
  }
}

function upstreamOf(vm: Vm): { hostname: string; port: number } {
  return { hostname: vm.ip, port: vm.appPort };
}

/** Builds the Hono app for the router's listener. */
export function createRouterHandler(state: RouterState): RequestHandler {
  const app = new Hono<{ Bindings: { context: RequestContext } }>();
  app.all("*", (c) => handleRequest(state, c.req.raw, c.env.context));
  app.onError((error, c) => {
    log.error("request failed", { error: String(error) });
    return errorResponse(c.req.raw, 500);
  });
  return (request, context) => app.fetch(request, { context });
}
