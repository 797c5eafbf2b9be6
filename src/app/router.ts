/**
 * The router's request handler: Host to site to VM, wake when needed, then
 * hand the request to the proxy. Every path belongs to the app behind the
 * host, so the listener calls `handleRequest` directly rather than through a
 * Hono app with one catch-all route. Hono's dispatch cost about 5 µs of CPU
 * per request, a tenth of Relight's (`scripts/bench`, Bun 1.4.5, 2 cores).
 */
import type { SiteConfig } from "../config/types.ts";
import { getLogger } from "../log.ts";
import type { FinishedExchange } from "../logging/access.ts";
import type { Observer } from "../observe.ts";
import {
  type ExchangeHooks,
  isWebSocketUpgrade,
  proxyHttp,
  type ProxyOptions,
  proxyWebSocket,
  UpstreamConnectError,
} from "../proxy/index.ts";
import { OverdueSweep, type Watched } from "../overdue.ts";
import { InvalidHostError, normalizeHost } from "../routing/host.ts";
import { matchSite, type SiteRoute } from "../routing/sites.ts";
import type { RequestContext, RequestHandler } from "../runtime/index.ts";
import type { Fleet } from "../vm/fleet.ts";
import { WakeError } from "../vm/errors.ts";
import type { Claim, Vm } from "../vm/vm.ts";
import { registering, type WebSocketTracker } from "../admin/websockets.ts";
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
  /** Receives every client WebSocket the router accepts, so a shutdown can close them. */
  webSockets?: WebSocketTracker;
}

/**
 * Time without response headers after which the index is refreshed to learn
 * whether the VM was paused, in ms. The stall sweep finds a request up to a
 * quarter of this later. A VM paused behind Relight's back accepts
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

/**
 * Methods that the Fetch standard forbids in a request (its "forbidden
 * method" list, matched case-insensitively), so Deno's fetch would throw on
 * them, and both runtimes reject them alike. Method names are case-sensitive (RFC 9110 section 9.1), so
 * `trace` or `TRACK` is a method Relight does not know, and gets 501.
 */
const fetchForbiddenMethods: ReadonlySet<string> = new Set(["CONNECT", "TRACE", "TRACK"]);

/** Returns the status for a method that never reaches an app, or undefined for any other. */
function rejectedStatusFor(method: string): number | undefined {
  if (method === "GET" || method === "POST" || method === "HEAD") return undefined;
  const status = rejectedMethods.get(method);
  if (status !== undefined) return status;
  return fetchForbiddenMethods.has(method.toUpperCase()) ? 501 : undefined;
}

/** Result of finding the VM for a request: a VM, or the status to respond with. */
type Resolution = { vm: Vm; route: SiteRoute } | { status: number; route?: SiteRoute };

/**
 * Finds the VM that serves `hostname` in the current index, without waiting.
 * Returns undefined when a site matches but no VM does, so the index may need
 * a refresh.
 */
function findVm(state: RouterState, hostname: string): Resolution | undefined {
  const route = matchSite(state.sites(), hostname);
  if (route === undefined) return { status: 404 };

  const known = state.fleet.find(route);
  return known ? { vm: known, route } : undefined;
}

/** A `Host` value that routed to a VM, valid while the index and sites stay the same. */
interface CachedRoute {
  generation: number;
  sites: readonly SiteConfig[];
  found: { vm: Vm; route: SiteRoute };
}

/** Host values cached per fleet; the cache is emptied when it reaches this size. */
const maxCachedHosts = 4096;

/**
 * The routes that `Host` values led to, so repeated requests skip host
 * checks, site matching and the index lookup. Entries are keyed by the raw
 * `Host` value, which was checked when the entry was made. Only hosts that
 * reached a VM are kept, so a flood of unknown names cannot grow it.
 */
class RouteCache {
  readonly #entries = new Map<string, CachedRoute>();

  get(state: RouterState, host: string): { vm: Vm; route: SiteRoute } | undefined {
    const entry = this.#entries.get(host);
    if (entry === undefined) return undefined;
    if (entry.generation !== state.fleet.generation || entry.sites !== state.sites()) {
      this.#entries.delete(host);
      return undefined;
    }
    return entry.found;
  }

  set(state: RouterState, host: string, found: { vm: Vm; route: SiteRoute }): void {
    if (this.#entries.size >= maxCachedHosts) this.#entries.clear();
    this.#entries.set(host, { generation: state.fleet.generation, sites: state.sites(), found });
  }
}

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
  const refreshed = state.fleet.find(route);
  return refreshed ? { vm: refreshed, route } : { status: 404, route };
}

function statusForWakeError(error: WakeError): number {
  return error.result === "resume_failed" ? 502 : 503;
}

/**
 * One request from arrival to the end of its exchange. It is the proxy's
 * `ExchangeHooks` and the stall watch's entry, so a request allocates one
 * object for both.
 */
class Exchange implements ExchangeHooks, Watched, FinishedExchange {
  readonly #state: RouterState;
  readonly request: Request;
  readonly remoteAddress: string;
  readonly #context: RequestContext;
  readonly #started = performance.now();
  /** Start of the current upstream attempt, for the stall watch. */
  startedAt = 0;
  watchIndex = -1;
  /** Metric label: the VM's hostname, or the site pattern when no VM was found. */
  app: string | undefined;
  claim: Claim | undefined;
  /** True for a WebSocket handshake, which the proxy relays rather than forwards. */
  webSocket = false;
  // The exchange's outcome, set by `onEnd`. The exchange itself is handed to
  // `exchangeEnded`, so ending it allocates no record.
  status = 0;
  durationMs = 0;
  bytes: number | null = null;
  truncated = false;
  cut?: boolean;

  constructor(state: RouterState, request: Request, context: RequestContext) {
    this.#state = state;
    this.request = request;
    this.remoteAddress = context.remoteAddress;
    this.#context = context;
  }

  onEnd(endStatus: number, bytes?: number, truncated = false): void {
    const durationMs = performance.now() - this.#started;
    // A forced stop ends the exchange as if the client left, but Relight cut
    // it, so it is recorded as 503 rather than 499.
    const cut = endStatus === clientClosedRequest && this.#context.stoppedByServer;
    const status = cut ? 503 : endStatus;
    this.claim?.release();
    if (this.app !== undefined) this.#state.observer.requestFinished(this.app, status, durationMs);

    this.status = status;
    this.durationMs = durationMs;
    this.bytes = bytes ?? null;
    this.truncated = truncated;
    if (cut) this.cut = true;
    this.#state.exchangeEnded?.(this);
  }
}

/** Stall watches by fleet, so every listener of one Relight shares one timer. */
const stallSweeps = new WeakMap<Fleet, OverdueSweep<Exchange>>();
/** Route caches by fleet, so every listener of one Relight shares one. */
const routeCaches = new WeakMap<Fleet, RouteCache>();

function routeCacheFor(fleet: Fleet): RouteCache {
  let cache = routeCaches.get(fleet);
  if (cache === undefined) {
    cache = new RouteCache();
    routeCaches.set(fleet, cache);
  }
  return cache;
}

function stallSweepFor(fleet: Fleet): OverdueSweep<Exchange> {
  let sweep = stallSweeps.get(fleet);
  if (sweep === undefined) {
    sweep = new OverdueSweep(stallThresholdMs, () => fleet.refreshAfterStall());
    stallSweeps.set(fleet, sweep);
  }
  return sweep;
}

/** Handles one request for the router's listener. */
export async function handleRequest(
  state: RouterState,
  request: Request,
  context: RequestContext,
): Promise<Response> {
  const exchange = new Exchange(state, request, context);
  try {
    return await route(state, request, context, exchange);
  } catch (error) {
    log.error("request failed", { error: String(error) });
    return errorResponse(request, 500);
  }
}

/**
 * Routes and proxies one request. Returns the response promise of the proxy
 * itself where it can, so the common path adds no promise of its own.
 */
function route(
  state: RouterState,
  request: Request,
  context: RequestContext,
  exchange: Exchange,
): Response | Promise<Response> {
  const rejectedStatus = rejectedStatusFor(request.method);
  if (rejectedStatus !== undefined) {
    log.debug("method rejected", { method: request.method });
    const response = failWith(request, rejectedStatus, exchange);
    // After a CONNECT the client may send tunnel bytes that are no HTTP request.
    if (request.method.toUpperCase() === "CONNECT") response.headers.set("connection", "close");
    return response;
  }

  const host = request.headers.get("host");
  // A cached route belongs to a `Host` value that was already checked. The
  // target's authority is still compared on every request.
  let found = host !== null && targetMatchesHost(request.url, host)
    ? routeCacheFor(state.fleet).get(state, host)
    : undefined;
  if (found === undefined) {
    let hostname: string;
    try {
      hostname = normalizeHost(host);
      checkTargetAuthority(request.url, host ?? "");
    } catch (error) {
      if (!(error instanceof InvalidHostError)) throw error;
      log.debug("invalid host", { error: error.message });
      return failWith(request, 400, exchange);
    }

    const known = findVm(state, hostname);
    if (known === undefined) return routeAfterRefresh(state, request, context, exchange, hostname);
    if ("status" in known) {
      exchange.app = known.route?.site.pattern;
      return failWith(request, known.status, exchange);
    }
    found = known;
    routeCacheFor(state.fleet).set(state, host!, known);
  }

  return proxyToVm(state, request, context, exchange, found.vm, found.route);
}

/** Routes a request whose host matched no VM in the index, after refreshing it. */
async function routeAfterRefresh(
  state: RouterState,
  request: Request,
  context: RequestContext,
  exchange: Exchange,
  hostname: string,
): Promise<Response> {
  const resolution = await resolveHost(state, hostname);
  if ("status" in resolution) {
    exchange.app = resolution.route?.site.pattern;
    return failWith(request, resolution.status, exchange);
  }
  return await proxyToVm(state, request, context, exchange, resolution.vm, resolution.route);
}

/** Claims `vm` for the request, wakes it when needed, and proxies the request. */
function proxyToVm(
  state: RouterState,
  request: Request,
  context: RequestContext,
  exchange: Exchange,
  vm: Vm,
  route: SiteRoute,
): Response | Promise<Response> {
  const webSocket = isWebSocketUpgrade(request);
  exchange.webSocket = webSocket;
  exchange.claim = vm.claim(webSocket ? "websocket" : "request");
  exchange.app = vm.hostname;
  const forwardContext = webSocket ? registeringContext(context, vm, state.webSockets) : context;
  if (!vm.ready) return wakeAndForward(state, request, forwardContext, exchange, vm, route);
  return forward(state, request, forwardContext, vm, route, exchange);
}

async function wakeAndForward(
  state: RouterState,
  request: Request,
  context: RequestContext,
  exchange: Exchange,
  vm: Vm,
  route: SiteRoute,
): Promise<Response> {
  const failure = await waitForVm(vm, route, context);
  if (failure !== undefined) return failWith(request, failure, exchange);
  return await forward(state, request, context, vm, route, exchange);
}

/**
 * Returns `context` with an `upgrade` that registers the accepted client
 * WebSocket with `vm` and `tracker` until it closes, so a forced pause or a
 * shutdown can close it.
 */
function registeringContext(
  context: RequestContext,
  vm: Vm,
  tracker: WebSocketTracker | undefined,
): RequestContext {
  return {
    remoteAddress: context.remoteAddress,
    clientGone: context.clientGone,
    get stoppedByServer() {
      return context.stoppedByServer;
    },
    disableTimeout: () => context.disableTimeout(),
    upgrade(options) {
      const handlers = tracker ? tracker.track(options.handlers) : options.handlers;
      return context.upgrade({
        ...options,
        handlers: registering(
          handlers,
          (socket) => vm.addWebSocket(socket),
          (socket) => vm.removeWebSocket(socket),
        ),
      });
    },
  };
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
  if (targetMatchesHost(url, host)) return;

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

/**
 * Returns true when `request.url` names `host` character for character, as
 * it does whenever the runtime built it from `Host`, so no parsing is needed.
 */
function targetMatchesHost(url: string, host: string): boolean {
  const authorityStart = url.indexOf("//") + 2;
  const authorityEnd = authorityStart + host.length;
  return host !== "" && authorityStart > 1 && url.startsWith(host, authorityStart) &&
    (url.length === authorityEnd || url[authorityEnd] === "/");
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

/** Builds the error response for `status` and ends `exchange` with its body size. */
function failWith(request: Request, status: number, exchange: ExchangeHooks): Response {
  const response = errorResponse(request, status);
  const length = response.headers.get("content-length");
  if (request.method === "HEAD") {
    exchange.onEnd(status, 0);
  } else {
    exchange.onEnd(status, length === null ? undefined : Number(length));
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
  exchange: Exchange,
): Promise<Response> {
  const proxy = exchange.webSocket ? proxyWebSocket : proxyHttp;
  const stallSweep = stallSweepFor(state.fleet);
  exchange.startedAt = performance.now();
  stallSweep.add(exchange);
  try {
    return await proxy(request, context, upstreamOf(vm), state.proxyOptions(), exchange);
  } catch (error) {
    if (!(error instanceof UpstreamConnectError)) {
      log.error("proxy failed unexpectedly", { vm: vm.hostname, error: String(error) });
      return failWith(request, 502, exchange);
    }
    log.warn("upstream connect failed, checking vm", { vm: vm.hostname, ip: vm.ip });
  } finally {
    stallSweep.delete(exchange);
  }

  vm.markSuspect();
  if (request.body !== null) {
    vm.ensureReady(route.site.wakeTimeoutMs).catch(() => undefined);
    return failWith(request, 502, exchange);
  }

  const failure = await waitForVm(vm, route, context);
  if (failure !== undefined) return failWith(request, failure, exchange);
  try {
    return await proxy(request, context, upstreamOf(vm), state.proxyOptions(), exchange);
  } catch {
    log.warn("upstream connect failed after wake", { vm: vm.hostname, ip: vm.ip });
    return failWith(request, 502, exchange);
  }
}

function upstreamOf(vm: Vm): { hostname: string; port: number } {
  return { hostname: vm.ip, port: vm.appPort };
}

/** Builds the request handler for the router's listener. */
export function createRouterHandler(state: RouterState): RequestHandler {
  return (request, context) => handleRequest(state, request, context);
}
