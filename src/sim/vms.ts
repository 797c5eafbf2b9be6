/**
 * The simulated VMs and their state machine: Running, Paused and Stopped,
 * backed by one app process group per VM.
 */
import { getLogger } from "../log.ts";
import type { AddressPool } from "./addresses.ts";
import { AppProcess, waitForApp } from "./app-process.ts";
import type { FleetHostGroup, SimVm, VmStatus } from "./types.ts";
import type { Watchdog } from "./watchdog.ts";

const logger = getLogger("sim");

/** Maximum wait for an app to accept connections when the caller needs it ready, in ms. */
export const defaultReadyTimeoutMs = 15_000;

/** An error the Slicer API turns into `{"error": message}` with `status`. */
export class ApiError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
    this.name = "ApiError";
  }
}

export interface HostGroup {
  name: string;
  appPort: number;
  command: string | string[] | undefined;
  ramBytes: number;
  cpus: number;
  /** Index of the last hostname handed out. Hostnames are never reused. */
  lastIndex: number;
}

export interface Vm {
  hostname: string;
  group: HostGroup;
  ip: string;
  tags: string[];
  status: VmStatus;
  createdAt: Date;
  app: AppProcess | undefined;
  /** Pending delayed resume, cancelled by pause, stop and delete. */
  resumeTimer: ReturnType<typeof setTimeout> | undefined;
  /** Tail of this VM's operations, which run one at a time. */
  queue: Promise<void>;
  /** Creation order, which listings follow. */
  sequence: number;
}

export interface VmRegistryOptions {
  pool: AddressPool;
  output: "inherit" | "ignore";
  resumeDelayMs: number;
  /** Kills the VM process groups if this process dies without deleting them. */
  watchdog?: Watchdog;
}

export class VmRegistry {
  readonly #groups = new Map<string, HostGroup>();
  readonly #vms = new Map<string, Vm>();
  readonly #pool: AddressPool;
  readonly #output: "inherit" | "ignore";
  readonly #watchdog: Watchdog | undefined;
  #lastSequence = 0;
  resumeDelayMs: number;

  constructor(options: VmRegistryOptions) {
    this.#pool = options.pool;
    this.#output = options.output;
    this.#watchdog = options.watchdog;
    this.resumeDelayMs = options.resumeDelayMs;
  }

  addGroup(spec: FleetHostGroup): HostGroup {
    if (this.#groups.has(spec.name)) {
      throw new Error(`Invalid fleet: host group "${spec.name}" is defined twice`);
    }
    const group: HostGroup = {
      name: spec.name,
      appPort: spec.app_port ?? 8080,
      command: spec.command,
      ramBytes: spec.ram_bytes ?? 512 * 1024 * 1024,
      cpus: spec.cpus ?? 1,
      lastIndex: 0,
    };
    this.#groups.set(group.name, group);
    return group;
  }

  groups(): HostGroup[] {
    return [...this.#groups.values()];
  }

  group(name: string): HostGroup | undefined {
    return this.#groups.get(name);
  }

  vms(): Vm[] {
    return [...this.#vms.values()].sort((a, b) => a.sequence - b.sequence);
  }

  get(hostname: string): Vm | undefined {
    return this.#vms.get(hostname);
  }

  /** Returns the VM or raises a 404 naming it. */
  require(hostname: string): Vm {
    const vm = this.#vms.get(hostname);
    if (!vm) throw new ApiError(404, `VM not found: ${hostname}`);
    return vm;
  }

  /**
   * Creates a VM in `groupName`. With `readyTimeoutMs` it resolves only once
   * the app accepts connections, and deletes the VM and raises a 408 when the
   * app is not ready in time. A VM created `Paused` is frozen once ready.
   */
  async create(
    groupName: string,
    spec: { tags: string[]; status?: VmStatus },
    readyTimeoutMs?: number,
  ): Promise<Vm> {
    const group = this.#groups.get(groupName);
    if (!group) throw new ApiError(404, `host group not found: ${groupName}`);

    group.lastIndex += 1;
    const hostname = `${group.name}-${group.lastIndex}`;
    this.#lastSequence += 1;
    const sequence = this.#lastSequence;
    const status = spec.status ?? "Running";
    const ip = await this.#pool.allocate(group.appPort);
    const vm: Vm = {
      hostname,
      group,
      ip,
      tags: [...spec.tags],
      status: status === "Stopped" ? "Stopped" : "Running",
      createdAt: new Date(),
      app: undefined,
      resumeTimer: undefined,
      queue: Promise.resolve(),
      sequence,
    };

    if (status !== "Stopped") {
      try {
        vm.app = await this.#launch(vm);
      } catch (error) {
        this.#pool.release(ip);
        throw error;
      }
    }
    this.#vms.set(hostname, vm);
    logger.info("vm created", { vm: hostname, ip, status });

    const timeoutMs = status === "Paused"
      ? (readyTimeoutMs ?? defaultReadyTimeoutMs)
      : readyTimeoutMs;
    if (vm.app && timeoutMs !== undefined) {
      const ready = await waitForApp(vm.app, vm.ip, group.appPort, timeoutMs);
      if (!ready) {
        const reason = vm.app.exitDescription;
        // A concurrent delete may have removed the VM already.
        if (this.#vms.get(hostname) === vm) await this.delete(hostname);
        throw new ApiError(
          408,
          `VM ${hostname} was not ready within ${timeoutMs} ms (app ${reason})`,
        );
      }
    }
    if (status === "Paused") await this.pause(hostname);
    return vm;
  }

  async #launch(vm: Vm): Promise<AppProcess> {
    const app = await AppProcess.start({
      command: vm.group.command,
      host: vm.ip,
      port: vm.group.appPort,
      hostname: vm.hostname,
      tags: vm.tags,
      output: this.#output,
    });
    this.#watchdog?.watch(app.pid);
    void app.exited.then(() => {
      if (vm.app === app) {
        logger.warn("vm app exited", { vm: vm.hostname, exit: app.exitDescription });
      }
    });
    return app;
  }

  async #kill(app: AppProcess): Promise<void> {
    await app.kill();
    this.#watchdog?.unwatch(app.pid);
  }

  /** Runs `operation` after every earlier operation on the same VM. */
  #serialize<T>(vm: Vm, operation: () => Promise<T> | T): Promise<T> {
    const result = vm.queue.then(operation);
    vm.queue = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }

  #cancelResume(vm: Vm): void {
    if (vm.resumeTimer !== undefined) clearTimeout(vm.resumeTimer);
    vm.resumeTimer = undefined;
  }

  // NOTE: pausing a paused VM and resuming a running one succeed here. Whether
  // slicerd rejects those transitions is not documented in its API description.
  pause(hostname: string): Promise<void> {
    const vm = this.require(hostname);
    return this.#serialize(vm, () => {
      if (vm.status === "Stopped" || !vm.app) {
        throw new ApiError(500, `cannot pause VM ${hostname}: it is stopped`);
      }
      this.#cancelResume(vm);
      vm.app.signal("SIGSTOP");
      if (vm.status !== "Paused") logger.info("vm paused", { vm: hostname });
      vm.status = "Paused";
    });
  }

  /**
   * Thaws the VM after `delayMs` (the configured resume delay when omitted).
   * Resolves when the resume is initiated, not when the VM runs again.
   */
  resume(hostname: string, delayMs = this.resumeDelayMs): Promise<void> {
    const vm = this.require(hostname);
    return this.#serialize(vm, () => {
      const app = vm.app;
      if (vm.status === "Stopped" || !app) {
        throw new ApiError(500, `cannot resume VM ${hostname}: it is stopped`);
      }
      if (vm.status === "Running") return;

      const thaw = () => {
        vm.resumeTimer = undefined;
        app.signal("SIGCONT");
        vm.status = "Running";
        logger.info("vm resumed", { vm: hostname });
      };
      if (delayMs <= 0) {
        this.#cancelResume(vm);
        thaw();
      } else if (vm.resumeTimer === undefined) {
        vm.resumeTimer = setTimeout(thaw, delayMs);
      }
    });
  }

  /** Kills the VM's app and marks it `Stopped`. The VM keeps its address. */
  stop(hostname: string): Promise<void> {
    const vm = this.require(hostname);
    return this.#serialize(vm, async () => {
      this.#cancelResume(vm);
      const app = vm.app;
      vm.app = undefined;
      vm.status = "Stopped";
      if (app) await this.#kill(app);
      logger.info("vm stopped", { vm: hostname });
    });
  }

  /** Starts a stopped VM's app again, or raises a 409 when it is not stopped. */
  relaunch(hostname: string): Promise<Vm> {
    const vm = this.require(hostname);
    return this.#serialize(vm, async () => {
      if (vm.status !== "Stopped") {
        throw new ApiError(409, `VM ${hostname} is already running`);
      }
      vm.app = await this.#launch(vm);
      vm.status = "Running";
      logger.info("vm relaunched", { vm: hostname, ip: vm.ip });
      return vm;
    });
  }

  delete(hostname: string): Promise<void> {
    const vm = this.require(hostname);
    this.#vms.delete(hostname);
    return this.#serialize(vm, async () => {
      this.#cancelResume(vm);
      const app = vm.app;
      vm.app = undefined;
      if (app) await this.#kill(app);
      this.#pool.release(vm.ip);
      logger.info("vm deleted", { vm: hostname });
    });
  }

  /**
   * Restarts the VM's app on a new address and returns it. A paused VM is
   * frozen again once its app is ready. A stopped VM only changes address.
   */
  move(hostname: string): Promise<string> {
    const vm = this.require(hostname);
    return this.#serialize(vm, async () => {
      this.#cancelResume(vm);
      const oldIp = vm.ip;
      vm.ip = await this.#pool.allocate(vm.group.appPort);

      const oldApp = vm.app;
      vm.app = undefined;
      if (oldApp) await this.#kill(oldApp);
      this.#pool.release(oldIp);

      if (vm.status !== "Stopped") {
        const app = await this.#launch(vm);
        vm.app = app;
        const ready = await waitForApp(app, vm.ip, vm.group.appPort, defaultReadyTimeoutMs);
        if (!ready) {
          throw new Error(
            `VM ${hostname} app was not ready after the move (${app.exitDescription})`,
          );
        }
        if (vm.status === "Paused") app.signal("SIGSTOP");
      }
      logger.info("vm moved", { vm: hostname, from: oldIp, ip: vm.ip });
      return vm.ip;
    });
  }

  /** Deletes every VM, killing every app process group. */
  async deleteAll(): Promise<void> {
    await Promise.all(this.vms().map((vm) => this.delete(vm.hostname)));
  }
}

export function snapshot(vm: Vm): SimVm {
  return {
    hostname: vm.hostname,
    hostgroup: vm.group.name,
    ip: vm.ip,
    tags: [...vm.tags],
    status: vm.status,
    appPort: vm.group.appPort,
    pid: vm.app?.pid,
  };
}
