/**
 * The fleet: every VM slicerd reports, the tag index over them, and the
 * background work that keeps both fresh (index refresh, idle watcher).
 */
import type { Clock, IntervalHandle } from "../clock.ts";
import type { SiteConfig, SiteSettings } from "../config/types.ts";
import { getLogger } from "../log.ts";
import type { Observer } from "../observe.ts";
import type { SiteRoute } from "../routing/sites.ts";
import { TagIndex } from "../routing/tag-index.ts";
import type { SlicerClient, SlicerNode } from "../slicer/client.ts";
import type { VmStatus } from "../status.ts";
import { probeTcp } from "./probe.ts";
import { Vm, type VmEnvironment } from "./vm.ts";

const log = getLogger("vm");

export interface FleetOptions {
  slicer: SlicerClient;
  clock: Clock;
  observer: Observer;
  sites: readonly SiteConfig[];
  /** How often idle VMs are looked for, in ms. */
  watchIntervalMs: number;
  /** How often the index is refreshed in the background, in ms. */
  refreshIntervalMs: number;
  /**
   * Minimum time between refreshes caused by unknown hosts, in ms, both for one
   * host and for all hosts together, so random Host headers cannot flood
   * slicerd. Default 1000.
   */
  unknownHostRefreshIntervalMs?: number;
}

/**
 * Minimum time between index refreshes caused by stalled requests, in ms,
 * for the whole fleet, so many slow apps cost slicerd no more than one.
 */
const stallRefreshIntervalMs = 5000;

/** Most hosts remembered by the unknown-host flood guard before old entries are dropped. */
const maxGuardedHosts = 10_000;

export class Fleet {
  readonly #vms = new Map<string, Vm>();
  #index = new TagIndex([]);
  #generation = 0;
  /** Entries of the last `GET /nodes`, by hostname. */
  #nodes = new Map<string, SlicerNode>();
  /** The listing that the index was built from, which the slicerd client returns again while unchanged. */
  #appliedNodes: SlicerNode[] | undefined;
  #sites: readonly SiteConfig[];
  #slicer: SlicerClient;
  readonly #clock: Clock;
  readonly #observer: Observer;
  #watchIntervalMs: number;
  #refreshIntervalMs: number;
  readonly #unknownHostIntervalMs: number;

  #refresh: Promise<void> | undefined;
  #refreshedAt: number | null = null;
  #unknownHostRefreshAt = Number.NEGATIVE_INFINITY;
  /** `performance.now()` of the last refresh caused by a stalled request. */
  #stallRefreshAt = Number.NEGATIVE_INFINITY;
  readonly #unknownHosts = new Map<string, number>();
  #epoch = 0;
  #watchTimer: IntervalHandle | undefined;
  #refreshTimer: IntervalHandle | undefined;
  #refreshFailures = 0;
  readonly #env: VmEnvironment;
  readonly #closed = new AbortController();

  constructor(options: FleetOptions) {
    this.#slicer = options.slicer;
    this.#clock = options.clock;
    this.#observer = options.observer;
    this.#sites = options.sites;
    this.#watchIntervalMs = options.watchIntervalMs;
    this.#refreshIntervalMs = options.refreshIntervalMs;
    this.#unknownHostIntervalMs = options.unknownHostRefreshIntervalMs ?? 1000;
    this.#env = {
      slicer: {
        resume: (hostname) => this.#slicer.resume(hostname),
        pause: (hostname) => this.#slicer.pause(hostname),
        relaunch: (hostname) => this.#slicer.relaunch(hostname),
      },
      clock: this.#clock,
      observer: this.#observer,
      checkNode: (hostname) => this.#checkNode(hostname),
      probe: probeTcp,
      nextEpoch: () => ++this.#epoch,
      closed: this.#closed.signal,
    };
  }

  /**
   * Clock time of the last successful refresh, or null before the first. A
   * failed refresh leaves it unchanged, so its age shows how stale the index is.
   */
  get refreshedAt(): number | null {
    return this.#refreshedAt;
  }

  /** Starts the background refresh and the idle watcher. */
  start(): void {
    this.stop();
    this.#refreshTimer = this.#clock.setInterval(() => {
      this.refresh().catch(() => undefined);
    }, this.#refreshIntervalMs);
    this.#watchTimer = this.#clock.setInterval(() => this.watchIdle(), this.#watchIntervalMs);
  }

  stop(): void {
    if (this.#refreshTimer) this.#clock.clearInterval(this.#refreshTimer);
    if (this.#watchTimer) this.#clock.clearInterval(this.#watchTimer);
    this.#refreshTimer = undefined;
    this.#watchTimer = undefined;
  }

  /**
   * Stops the background work for good and cancels every wake still polling,
   * so its waiting requests get a 503 at once instead of holding shutdown
   * open for up to `wake_timeout`.
   */
  close(): void {
    this.stop();
    this.#closed.abort();
  }

  /** Applies new sites, timings and slicerd client after a config reload. */
  reconfigure(options: Omit<FleetOptions, "clock" | "observer">): void {
    this.#slicer = options.slicer;
    this.#sites = options.sites;
    const timingChanged = options.watchIntervalMs !== this.#watchIntervalMs ||
      options.refreshIntervalMs !== this.#refreshIntervalMs;
    this.#watchIntervalMs = options.watchIntervalMs;
    this.#refreshIntervalMs = options.refreshIntervalMs;
    for (const vm of this.#vms.values()) {
      const settings = this.#settingsForGroup(vm.hostGroup);
      if (settings) vm.settings = settings;
    }
    if (timingChanged && this.#watchTimer !== undefined) this.start();
  }

  /** Returns the VM with this hostname, as slicerd names it. */
  get(hostname: string): Vm | undefined {
    return this.#vms.get(hostname);
  }

  /** Changes whenever the index or the set of VMs may have changed, so lookups can be cached. */
  get generation(): number {
    return this.#generation;
  }

  /** Finds the VM for a matched site: the first candidate tag found in its host group. */
  find(route: SiteRoute): Vm | undefined {
    for (const tag of route.tags) {
      const hostname = this.#index.lookup(route.site.hostGroup, tag);
      if (hostname === undefined) continue;
      const vm = this.#vms.get(hostname);
      if (vm) return vm;
    }
    return undefined;
  }

  /**
   * Refreshes the index for a host that matched no VM, unless this host or
   * any unknown host caused a refresh within the flood-guard interval.
   * Returns false when the refresh was skipped. Throws when slicerd failed.
   */
  async refreshForUnknownHost(hostname: string): Promise<boolean> {
    const now = this.#clock.now();
    const hostLast = this.#unknownHosts.get(hostname);
    if (hostLast !== undefined && now - hostLast < this.#unknownHostIntervalMs) return false;
    if (
      now - this.#unknownHostRefreshAt < this.#unknownHostIntervalMs && this.#refresh === undefined
    ) {
      return false;
    }

    if (this.#unknownHosts.size >= maxGuardedHosts) this.#pruneUnknownHosts(now);
    this.#unknownHosts.set(hostname, now);
    this.#unknownHostRefreshAt = now;
    await this.refresh();
    return true;
  }

  /**
   * Refreshes the index because a request has had no response for a while.
   * A VM paused behind Relight's back still accepts TCP connections (the
   * kernel queues them) but never responds, and the refresh resumes a VM
   * found paused under open requests. Skipped when another stalled request
   * caused a refresh within `stallRefreshIntervalMs`, so slow but healthy
   * apps cost at most one `GET /nodes` per interval, however many there are.
   */
  refreshAfterStall(): void {
    const now = performance.now();
    if (now - this.#stallRefreshAt < stallRefreshIntervalMs) return;
    this.#stallRefreshAt = now;
    this.refresh().catch(() => undefined);
  }

  /**
   * Reads `GET /nodes` and rebuilds the index. Concurrent callers share one
   * call, so slicerd gets one request at a time however many callers wait.
   */
  refresh(): Promise<void> {
    this.#refresh ??= this.#runRefresh().finally(() => {
      this.#refresh = undefined;
    });
    return this.#refresh;
  }

  /** Pauses every VM in a configured host group that has been idle long enough. */
  watchIdle(): void {
    const now = this.#clock.now();
    for (const vm of this.#vms.values()) {
      if (this.#settingsForGroup(vm.hostGroup) === undefined) continue;
      vm.pauseIfIdle(now);
    }
  }

  /** Status entries of every VM, sorted by hostname. */
  snapshot(): VmStatus[] {
    return [...this.#vms.values()]
      .map((vm) => vm.snapshot())
      .sort((a, b) => a.hostname.localeCompare(b.hostname));
  }

  async #runRefresh(): Promise<void> {
    const epoch = ++this.#epoch;
    let nodes: SlicerNode[];
    try {
      nodes = await this.#slicer.listNodes();
    } catch (error) {
      this.#observer.indexRefreshed(false);
      this.#refreshFailures++;
      // Every failure is logged, because each can have another cause. The
      // logging layer counts identical repeats, so a long outage stays readable.
      log.warn("index refresh failed", {
        error: String(error),
        failures: this.#refreshFailures,
        last_success: this.#refreshedAt === null ? null : new Date(this.#refreshedAt).toISOString(),
      });
      throw error;
    }

    if (this.#refreshFailures > 0) {
      log.info("index refresh recovered", { failures: this.#refreshFailures });
      this.#refreshFailures = 0;
    }
    this.#apply(nodes, epoch);
    this.#refreshedAt = this.#clock.now();
    this.#observer.indexRefreshed(true);
  }

  #apply(nodes: SlicerNode[], epoch: number): void {
    if (nodes === this.#appliedNodes) {
      // The index and the set of VMs stay as they are, and each VM only
      // compares its state with the one slicerd reports.
      for (const node of nodes) {
        const vm = this.#vms.get(node.hostname);
        if (vm === undefined) continue;
        vm.settings = this.#settingsForNode(node);
        vm.applyState(node, epoch);
      }
      return;
    }

    const seen = new Map<string, SlicerNode>();
    for (const node of nodes) {
      seen.set(node.hostname, node);
      const settings = this.#settingsForNode(node);
      const existing = this.#vms.get(node.hostname);
      if (existing) {
        existing.applyNode(node, epoch);
        existing.settings = settings;
        continue;
      }
      this.#vms.set(node.hostname, new Vm(node, settings, this.#env));
    }

    for (const [hostname, vm] of this.#vms) {
      if (seen.has(hostname)) continue;
      log.info("vm vanished", { vm: hostname, ip: vm.ip });
      this.#vms.delete(hostname);
    }

    const index = new TagIndex(nodes);
    for (const conflict of index.conflicts) {
      log.warn("tag on more than one vm", { ...conflict });
    }
    this.#index = index;
    this.#nodes = seen;
    this.#appliedNodes = nodes;
    this.#generation++;
  }

  async #checkNode(hostname: string): Promise<SlicerNode | undefined> {
    await this.refresh();
    return this.#nodes.get(hostname);
  }

  /** Returns the first site for `hostGroup`, whose settings all of the group's VMs use. */
  #settingsForGroup(hostGroup: string): SiteSettings | undefined {
    return this.#sites.find((site) => site.hostGroup === hostGroup);
  }

  /** Returns the settings of the node's host group, or the first site's for a group without one. */
  #settingsForNode(node: SlicerNode): SiteSettings {
    return this.#settingsForGroup(node.hostGroup) ?? this.#firstSettings();
  }

  #firstSettings(): SiteSettings {
    const first = this.#sites[0];
    if (first === undefined) throw new Error("no sites configured");
    return first;
  }

  #pruneUnknownHosts(now: number): void {
    for (const [host, at] of this.#unknownHosts) {
      if (now - at >= this.#unknownHostIntervalMs) this.#unknownHosts.delete(host);
    }
    // Every entry is recent: a flood of distinct hosts. Forget them all; the
    // shared interval still limits refreshes to one per interval.
    if (this.#unknownHosts.size >= maxGuardedHosts) this.#unknownHosts.clear();
  }
}
