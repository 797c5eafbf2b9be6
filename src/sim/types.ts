/**
 * Public types of the Slicer simulator: its options, the handle returned by
 * `startSimulator`, the control interface tests use, and the fleet file shape.
 */

/** VM states that slicerd reports in `status`. */
export type VmStatus = "Running" | "Paused" | "Stopped";

/** Slicer API endpoints that fault injection and the call log distinguish. */
export type Endpoint =
  | "healthz"
  | "info"
  | "hostgroup"
  | "nodes"
  | "hostgroup_nodes"
  | "create"
  | "delete"
  | "health"
  | "pause"
  | "resume"
  | "relaunch";

export const endpoints: readonly Endpoint[] = [
  "healthz",
  "info",
  "hostgroup",
  "nodes",
  "hostgroup_nodes",
  "create",
  "delete",
  "health",
  "pause",
  "resume",
  "relaunch",
];

/** A host group in the fleet file. */
export interface FleetHostGroup {
  name: string;
  /** Port the app listens on inside each VM. Default 8080. */
  app_port?: number;
  /**
   * App each VM runs: a string runs through `/bin/sh -c`, an array is an argv.
   * Default: the bundled demo app.
   */
  command?: string | string[];
  /** Reported in listings only. Default 512 MiB. */
  ram_bytes?: number;
  /** Reported in listings only. Default 1. */
  cpus?: number;
  /** VMs created in this group at start, in order (`<group>-1`, `<group>-2`, ...). */
  vms?: FleetVm[];
}

export interface FleetVm {
  tags: string[];
  /** Initial state. Default "Running". */
  status?: VmStatus;
}

/** Host groups and VMs, in the same shape as the fleet YAML file. */
export interface Fleet {
  host_groups: FleetHostGroup[];
}

/** A snapshot of one simulated VM. */
export interface SimVm {
  hostname: string;
  hostgroup: string;
  /** Plain loopback address the app listens on. */
  ip: string;
  tags: string[];
  status: VmStatus;
  appPort: number;
  /** Process group id of the app, undefined while the VM is stopped. */
  pid: number | undefined;
}

export interface ListenAddress {
  hostname: string;
  /** 0 picks an ephemeral port. */
  port: number;
}

export interface SimulatorOptions {
  /** Unix socket for the API, created with mode 0600 and removed on stop. */
  socketPath?: string;
  /** Loopback HTTP listener for the API (and the `/_sim/` control API). */
  http?: ListenAddress;
  /**
   * Separate listener that serves only the `/_sim/` control API. It stays up
   * while `setDown(true)` takes the API listeners away.
   */
  controlHttp?: ListenAddress;
  /** Bearer token required on every call except `/healthz` when set. */
  token?: string;
  /** Host groups and VMs to create at start. */
  fleet?: Fleet;
  /** Delay between a resume call and the VM running again, in ms. Default 0. */
  resumeDelayMs?: number;
  /**
   * First three octets of the VMs' addresses, such as "127.70.3". Default: a
   * random /24 inside 127.64.0.0/10, so that several simulators can coexist.
   */
  addressPrefix?: string;
  /** Destination of VM processes' stdout and stderr. Default "ignore". */
  vmOutput?: "inherit" | "ignore";
}

export interface CallRecord {
  method: string;
  path: string;
  endpoint: Endpoint;
  /** The VM the call names, for per-VM endpoints. */
  hostname?: string;
  /** Arrival time, in ms since the epoch. */
  time: number;
}

export interface CreateVmSpec {
  tags: string[];
  status?: VmStatus;
}

/** Test and demo control over the simulator, beside the Slicer API. */
export interface SimulatorControl {
  /** Creates a VM and resolves once its app accepts connections (or it is stopped). */
  createVm(group: string, spec: CreateVmSpec): Promise<SimVm>;
  getVm(hostname: string): SimVm | undefined;
  listVms(): SimVm[];
  /** Freezes the VM's process group without an API call being logged. */
  pauseVm(hostname: string): Promise<void>;
  /** Thaws the VM at once, ignoring the resume delay. */
  resumeVm(hostname: string): Promise<void>;
  /** Kills the VM's app and marks it `Stopped`. `POST /vm/{h}/relaunch` starts it again. */
  stopVm(hostname: string): Promise<void>;
  deleteVm(hostname: string): Promise<void>;
  /** Restarts the VM's app on a new address, keeping its status, and returns the address. */
  moveVm(hostname: string): Promise<string>;
  setResumeDelay(ms: number): void;
  /** Delays every call of the endpoint by `ms` before it is handled, and 0 removes the delay. */
  setLatency(endpoint: Endpoint, ms: number): void;
  /** Makes the next `count` calls of the endpoint fail with `status` and a JSON error. */
  failNext(endpoint: Endpoint, count: number, status: number): void;
  /** While on, calls of the endpoint get no response until it is turned off or the simulator stops. */
  hang(endpoint: Endpoint, on: boolean): void;
  /** Closes the API listeners (connections refused) or opens them again, at once. */
  setDown(down: boolean): void;
  calls(): CallRecord[];
  countCalls(endpoint: Endpoint, hostname?: string): number;
  clearCalls(): void;
}

export interface Simulator {
  socketPath?: string;
  /** HTTP base URL of the API, without a trailing slash, when `http` was set. */
  url?: string;
  /** HTTP base URL of the separate control listener, when `controlHttp` was set. */
  controlUrl?: string;
  control: SimulatorControl;
  /** Thaws and kills every VM process group, closes listeners and removes the socket. */
  stop(): Promise<void>;
}
