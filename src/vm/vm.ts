/**
 * One VM's lifecycle: a state machine (running, pausing, paused, resuming,
 * plus stopped and unknown as slicerd reports them), the requests and
 * WebSockets open through it, and its activity clock. Waking and pausing are
 * serialized here, so a request and the idle watcher never act on a VM at
 * the same time.
 */
import type { Clock } from "../clock.ts";
import type { SiteSettings } from "../config/types.ts";
import { getLogger } from "../log.ts";
import type { Observer, WakeResult } from "../observe.ts";
import { parseOverrides, type VmOverrides } from "../routing/overrides.ts";
import type { NodeStatus, SlicerClient, SlicerNode } from "../slicer/client.ts";
import { SlicerStatusError, SlicerUnreachableError } from "../slicer/errors.ts";
import type { VmState, VmStatus } from "../status.ts";
import { WakeError } from "./errors.ts";

const log = getLogger("vm");

/** Services a VM uses from the rest of Relight. */
export interface VmEnvironment {
  slicer: Pick<SlicerClient, "resume" | "pause" | "relaunch">;
  clock: Clock;
  observer: Observer;
  /** Reads the VM's current entry from slicerd; undefined when it no longer exists. */
  checkNode(hostname: string): Promise<SlicerNode | undefined>;
  /** True when `host:port` accepts a TCP connection within `timeoutMs`. */
  probe(host: string, port: number, timeoutMs: number): Promise<boolean>;
  /** Returns a number larger than any returned before; orders state changes and refreshes. */
  nextEpoch(): number;
  /** Aborts when Relight shuts down, which ends every wake still polling. */
  closed: AbortSignal;
}

/** A client WebSocket relayed to a VM, which a forced pause closes. */
export interface ClosableSocket {
  close(code: number, reason: string): void;
}

/** A request's or WebSocket's hold on a VM; the VM is not paused while one is open. */
export interface Claim {
  /** Ends the hold and counts as activity. Calling it again does nothing. */
  release(): void;
}

/**
 * Delay between readiness checks for the first `fastPollWindowMs` of a wake,
 * in ms. Most VMs resume well within a second, and each ms of delay adds to
 * the first request's latency. Each check is one GET /nodes: a wake with the
 * simulator's 100 ms resume delay made about 40 (`scripts/bench`, 2 cores).
 */
const fastPollDelayMs = 2;
const fastPollWindowMs = 1000;
/** First and largest delay between readiness checks after the fast window, in ms. */
const firstPollDelayMs = 20;
const maxPollDelayMs = 500;
/** Time allowed for one TCP connect to the app port, in ms. */
const probeTimeoutMs = 1000;

function stateFor(status: NodeStatus): VmState {
  return status;
}

/** Waits `ms`, or less when `signal` aborts first. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}

export class Vm {
  readonly hostname: string;
  hostGroup: string;
  ip: string;
  tags: string[];
  overrides: VmOverrides = {};
  /**
   * Settings of the first configured site for the VM's host group, whichever
   * site a request came through, so a VM reached under two sites has one
   * app port and one idle timeout. The first site overall when none matches.
   */
  settings: SiteSettings;

  #state: VmState;
  /** Epoch of the last state change, compared with refresh start epochs. */
  #stateEpoch: number;
  #inFlight = 0;
  #openWebSockets = 0;
  /** Client WebSockets relayed to this VM, from their upgrade until they close. */
  readonly #clientWebSockets = new Set<ClosableSocket>();
  /** Clock time of the last request start or end, or of first sight when none yet. */
  #lastActivity: number;
  #requested = false;
  #wake: Promise<void> | undefined;
  #pause: Promise<void> | undefined;
  readonly #env: VmEnvironment;
  #reportedOverrideTags = new Set<string>();

  constructor(node: SlicerNode, settings: SiteSettings, env: VmEnvironment) {
    this.hostname = node.hostname;
    this.hostGroup = node.hostGroup;
    this.ip = node.ip;
    this.tags = [];
    this.settings = settings;
    this.#env = env;
    this.#state = stateFor(node.status);
    this.#stateEpoch = env.nextEpoch();
    this.#lastActivity = env.clock.now();
    this.#setTags(node.tags);
  }

  get state(): VmState {
    return this.#state;
  }

  get inFlightRequests(): number {
    return this.#inFlight;
  }

  get openWebSockets(): number {
    return this.#openWebSockets;
  }

  /** Effective app port: the `relight.app_port` tag, else the site's. */
  get appPort(): number {
    return this.overrides.appPort ?? this.settings.appPort;
  }

  /** Effective idle timeout in ms, or null when the VM is never paused. */
  get idleTimeoutMs(): number | null {
    return this.overrides.idleTimeoutMs === undefined
      ? this.settings.idleTimeoutMs
      : this.overrides.idleTimeoutMs;
  }

  /**
   * Holds the VM open for one request or WebSocket. The count rises before
   * any await, so the idle watcher, which runs on the same thread, can never
   * pause a VM that a request has just claimed.
   */
  claim(kind: "request" | "websocket"): Claim {
    this.#touch();
    if (kind === "request") this.#inFlight++;
    else this.#openWebSockets++;

    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        if (kind === "request") this.#inFlight--;
        else this.#openWebSockets--;
        this.#touch();
      },
    };
  }

  /** Registers a client WebSocket relayed to this VM, so `closeWebSockets` reaches it. */
  addWebSocket(socket: ClosableSocket): void {
    this.#clientWebSockets.add(socket);
  }

  removeWebSocket(socket: ClosableSocket): void {
    this.#clientWebSockets.delete(socket);
  }

  /**
   * Closes every client WebSocket relayed to this VM with `code` and
   * `reason`, and returns how many it closed. Each relay then closes its
   * upstream side and releases its claim.
   */
  closeWebSockets(code: number, reason: string): number {
    const sockets = [...this.#clientWebSockets];
    this.#clientWebSockets.clear();
    for (const socket of sockets) socket.close(code, reason);
    return sockets.length;
  }

  /** True when the VM is running with no wake under way, so `ensureReady` would return at once. */
  get ready(): boolean {
    return this.#state === "running" && this.#wake === undefined;
  }

  /**
   * Resolves once the VM is running and its app port accepts connections,
   * waking it if needed. Throws `WakeError` after `timeoutMs`, or at once when
   * the wake failed. A caller that stops waiting leaves the wake running for
   * the others.
   */
  async ensureReady(timeoutMs: number, signal?: AbortSignal): Promise<void> {
    if (this.ready) return;

    this.#wake ??= this.#startWake(Math.max(timeoutMs, this.settings.wakeTimeoutMs));
    await waitWithTimeout(this.#wake, timeoutMs, signal);
  }

  /**
   * Marks a VM that Relight took for running as in doubt, after a connection
   * to its app failed, so the next `ensureReady` checks slicerd and wakes it.
   */
  markSuspect(): void {
    if (this.#state === "running" && this.#wake === undefined) {
      this.#setState("unknown");
    }
  }

  /**
   * Pauses the VM if it has been idle for its idle timeout at clock time
   * `now`: running, no request in flight, no open WebSocket or stream. A
   * pause that slicerd rejected leaves it running, so the next tick tries
   * again. One that timed out leaves it unknown until a refresh or request
   * checks it.
   */
  pauseIfIdle(now: number): void {
    const idleTimeoutMs = this.idleTimeoutMs;
    if (idleTimeoutMs === null) return;
    if (this.#state !== "running" || this.#wake !== undefined || this.#pause !== undefined) return;
    if (this.#inFlight > 0 || this.#openWebSockets > 0) return;
    if (now - this.#lastActivity < idleTimeoutMs) return;

    this.#setState("pausing");
    this.#pause = this.#runPause("idle").finally(() => {
      this.#pause = undefined;
    });
  }

  /**
   * Pauses the VM at once, for an operator's request, without checking its
   * idle time or open connections (the caller decides that). Joins a pause
   * already under way. Resolves true when the VM ended up paused, false
   * when it was not running or the pause failed.
   */
  async pauseNow(): Promise<boolean> {
    if (this.#pause === undefined) {
      if (this.#state !== "running" || this.#wake !== undefined) return this.#state === "paused";
      this.#setState("pausing");
      this.#pause = this.#runPause("manual").finally(() => {
        this.#pause = undefined;
      });
    }
    await this.#pause;
    return this.#state === "paused";
  }

  /**
   * Updates the VM from a `GET /nodes` entry. The status is taken only when
   * no wake or pause is under way and the state has not changed since the
   * refresh began (`refreshEpoch`), so a stale list never undoes a wake.
   */
  applyNode(node: SlicerNode, refreshEpoch: number): void {
    if (node.ip !== this.ip) {
      log.info("vm moved", { vm: this.hostname, old_ip: this.ip, ip: node.ip });
      this.ip = node.ip;
    }
    this.hostGroup = node.hostGroup;
    this.#setTags(node.tags);
    this.applyState(node, refreshEpoch);
  }

  /**
   * Takes the state that slicerd reported in `node`, unless a wake or pause
   * of Relight's own is under way or newer than the refresh.
   */
  applyState(node: SlicerNode, refreshEpoch: number): void {
    const reported = stateFor(node.status);
    if (reported === this.#state) return;
    if (this.#wake !== undefined || this.#pause !== undefined) return;
    if (this.#stateEpoch > refreshEpoch) return;

    log.info("vm state changed outside relight", {
      vm: this.hostname,
      from: this.#state,
      to: reported,
      status: node.rawStatus,
    });
    this.#setState(reported);

    // Relight never pauses a VM under open requests, so someone else did, and
    // those requests hang until the VM runs again.
    if (reported === "paused" && (this.#inFlight > 0 || this.#openWebSockets > 0)) {
      log.info("resuming vm paused under open requests", {
        vm: this.hostname,
        requests: this.#inFlight,
        websockets: this.#openWebSockets,
      });
      this.ensureReady(this.settings.wakeTimeoutMs).catch((error: unknown) => {
        log.warn("resume of vm paused under open requests failed", {
          vm: this.hostname,
          error: String(error),
        });
      });
    }
  }

  /** Returns the VM's entry in the status report. */
  snapshot(): VmStatus {
    return {
      hostname: this.hostname,
      hostGroup: this.hostGroup,
      tags: [...this.tags],
      ip: this.ip,
      state: this.#state,
      lastActivity: this.#requested ? new Date(this.#lastActivity).toISOString() : null,
      inFlightRequests: this.#inFlight,
      openWebSockets: this.#openWebSockets,
      idleTimeoutMs: this.idleTimeoutMs,
    };
  }

  #touch(): void {
    this.#requested = true;
    this.#lastActivity = this.#env.clock.now();
  }

  #setState(state: VmState): void {
    this.#state = state;
    this.#stateEpoch = this.#env.nextEpoch();
  }

  #setTags(tags: string[]): void {
    this.tags = [...tags];
    const { overrides, problems } = parseOverrides(tags);
    this.overrides = overrides;
    for (const problem of problems) {
      // Each bad tag is logged once per VM, not on every refresh.
      if (this.#reportedOverrideTags.has(problem.tag)) continue;
      this.#reportedOverrideTags.add(problem.tag);
      log.warn("invalid override tag ignored", {
        vm: this.hostname,
        tag: problem.tag,
        error: problem.message,
      });
    }
  }

  #startWake(deadlineMs: number): Promise<void> {
    const started = performance.now();
    const wake = this.#runWake(deadlineMs).then(
      () => this.#finishWake("ok", started),
      (error: unknown) => {
        const result = error instanceof WakeError ? error.result : "resume_failed";
        this.#finishWake(result, started);
        throw error;
      },
    );
    // Callers that gave up are no longer awaiting; keep the rejection handled.
    wake.catch(() => undefined);
    return wake.finally(() => {
      this.#wake = undefined;
    });
  }

  #finishWake(result: WakeResult, started: number): void {
    const durationMs = performance.now() - started;
    this.#env.observer.wakeFinished(this.hostname, result, durationMs);
    const fields = {
      vm: this.hostname,
      app: this.tags[0] ?? null,
      result,
      duration_ms: Math.round(durationMs),
    };
    if (result === "ok") log.info("vm woke", fields);
    else log.warn("vm wake failed", fields);
  }

  async #runWake(deadlineMs: number): Promise<void> {
    const deadline = performance.now() + deadlineMs;

    if (this.#pause !== undefined) await this.#pause;

    if (this.#state === "paused") {
      await this.#resume();
    } else if (this.#state === "stopped") {
      await this.#relaunch();
    }
    await this.#pollUntilReady(deadline);
  }

  async #resume(): Promise<void> {
    this.#setState("resuming");
    try {
      await this.#env.slicer.resume(this.hostname);
    } catch (error) {
      this.#setState("paused");
      throw toWakeError(error, "resume_failed", `resume of ${this.hostname} failed`);
    }
  }

  async #relaunch(): Promise<void> {
    this.#setState("resuming");
    try {
      await this.#env.slicer.relaunch(this.hostname);
    } catch (error) {
      this.#setState("stopped");
      // Any error status means slicerd did not relaunch the VM: it has no
      // relaunch call (404, 405, 501), the VM is busy (409), or slicerd is
      // overloaded (503). The VM stays stopped, and a client may retry.
      if (error instanceof SlicerStatusError) {
        throw new WakeError(
          "stopped",
          `${this.hostname} is stopped and slicerd cannot relaunch it: ${error.message}`,
          { cause: error },
        );
      }
      throw toWakeError(error, "resume_failed", `relaunch of ${this.hostname} failed`);
    }
  }

  /**
   * Polls slicerd and the app port until the VM reports `Running` and the
   * port accepts connections, or `deadline` passes. Checks come every few ms
   * for the first second and then with a growing delay. Once the VM runs but
   * its port is closed, the app is still starting, so the delay grows at once.
   */
  async #pollUntilReady(deadline: number): Promise<void> {
    let fastUntil = performance.now() + fastPollWindowMs;
    let delay = firstPollDelayMs;
    let resumed = this.#state === "resuming";
    const closed = this.#env.closed;

    for (;;) {
      if (closed.aborted) {
        this.#setState("unknown");
        throw new WakeError("cancelled", `wake of ${this.hostname} cancelled by shutdown`);
      }
      const node = await this.#checkNode(deadline);
      if (node === statusCheckTimedOut) {
        // One hung status call does not make slicerd unreachable, because
        // the resume may have been accepted, so polling goes on until the
        // wake's own deadline.
        const remaining = deadline - performance.now();
        if (remaining <= 0) {
          this.#setState("unknown");
          throw new WakeError("timeout", `${this.hostname} was not ready within the wake timeout`);
        }
        await sleep(Math.min(delay, remaining), closed);
        continue;
      }
      if (node === undefined) {
        this.#setState("unknown");
        throw new WakeError("resume_failed", `${this.hostname} no longer exists`);
      }
      if (node.ip !== this.ip) this.applyNode(node, this.#stateEpoch);

      if (node.status === "running") {
        const remaining = Math.max(1, Math.min(probeTimeoutMs, deadline - performance.now()));
        if (await this.#env.probe(this.ip, this.appPort, remaining)) {
          this.#setState("running");
          return;
        }
        fastUntil = 0;
      } else if (node.status === "paused" && !resumed) {
        // Paused behind Relight's back while it believed the VM was running.
        await this.#resume();
        resumed = true;
      } else if (node.status === "stopped" && !resumed) {
        await this.#relaunch();
        resumed = true;
      }

      const remaining = deadline - performance.now();
      if (remaining <= 0) {
        this.#setState(node.status === "paused" ? "paused" : "unknown");
        throw new WakeError("timeout", `${this.hostname} was not ready within the wake timeout`);
      }
      if (performance.now() < fastUntil) {
        await sleep(Math.min(fastPollDelayMs, remaining), closed);
        continue;
      }
      await sleep(Math.min(delay, remaining), closed);
      delay = Math.min(delay * 2, maxPollDelayMs);
    }
  }

  /**
   * Reads the VM's entry from slicerd, waiting no later than `deadline`.
   * Returns `statusCheckTimedOut` when the call timed out or `deadline`
   * passed first, and throws `WakeError` for any other failure.
   */
  async #checkNode(deadline: number): Promise<SlicerNode | undefined | typeof statusCheckTimedOut> {
    const check = this.#env.checkNode(this.hostname);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadlinePassed = new Promise<typeof statusCheckTimedOut>((resolve) => {
      timer = setTimeout(
        () => resolve(statusCheckTimedOut),
        Math.max(0, deadline - performance.now()),
      );
    });
    try {
      return await Promise.race([check, deadlinePassed]);
    } catch (error) {
      if (isTimeout(error)) {
        log.debug("vm status check timed out, polling again", {
          vm: this.hostname,
          error: String(error),
        });
        return statusCheckTimedOut;
      }
      if (this.#state === "resuming") this.#setState("unknown");
      throw toWakeError(error, "resume_failed", `status check of ${this.hostname} failed`);
    } finally {
      clearTimeout(timer);
      // A check still running after the deadline ends on its own timeout.
      check.catch(() => undefined);
    }
  }

  /** Pauses the VM; `reason` separates the idle watcher's pauses from an operator's. */
  async #runPause(reason: "idle" | "manual"): Promise<void> {
    const idleMs = this.#env.clock.now() - this.#lastActivity;
    try {
      await this.#env.slicer.pause(this.hostname);
      this.#setState("paused");
      this.#env.observer.pauseFinished(this.hostname, "ok");
      log.info("vm paused", {
        vm: this.hostname,
        app: this.tags[0] ?? null,
        reason,
        idle_ms: idleMs,
        idle_timeout_ms: this.idleTimeoutMs,
      });
    } catch (error) {
      // An error status means slicerd did not pause the VM, so it still runs.
      // A timeout or lost connection leaves the outcome open, because slicerd
      // may finish the pause later. The state is then unknown, so the next
      // request checks slicerd (and resumes the VM) before it is proxied.
      const outcomeKnown = error instanceof SlicerStatusError;
      this.#setState(outcomeKnown ? "running" : "unknown");
      this.#env.observer.pauseFinished(this.hostname, "failed");
      log.warn("vm pause failed", {
        vm: this.hostname,
        error: String(error),
        state: this.#state,
      });
    }
  }
}

/** Result of a status check that timed out, which a wake retries. */
const statusCheckTimedOut = Symbol("status check timed out");

/** True for a slicerd call that was sent but got no response within the request timeout. */
function isTimeout(error: unknown): boolean {
  if (!(error instanceof SlicerUnreachableError)) return false;
  const cause = error.cause;
  return cause instanceof DOMException && cause.name === "TimeoutError";
}

function toWakeError(
  error: unknown,
  fallback: Exclude<WakeResult, "ok">,
  message: string,
): WakeError {
  if (error instanceof WakeError) return error;
  const result = error instanceof SlicerUnreachableError ? "slicer_unreachable" : fallback;
  return new WakeError(result, `${message}: ${String(error)}`, { cause: error });
}

/** Awaits `promise` for at most `ms`, or until `signal` aborts. */
async function waitWithTimeout(
  promise: Promise<void>,
  ms: number,
  signal: AbortSignal | undefined,
): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let onAbort: (() => void) | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new WakeError("timeout", "the VM was not ready within the wake timeout")),
      ms,
    );
    if (signal) {
      onAbort = () => reject(signal.reason);
      if (signal.aborted) onAbort();
      else signal.addEventListener("abort", onAbort, { once: true });
    }
  });
  try {
    await Promise.race([promise, limit]);
  } finally {
    clearTimeout(timer);
    if (signal && onAbort) signal.removeEventListener("abort", onAbort);
  }
}
