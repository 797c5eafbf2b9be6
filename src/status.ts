/**
 * The status report that a running Relight serves at the admin server's
 * `GET /status` and that `relight status` prints.
 */

export type VmState = "running" | "pausing" | "paused" | "resuming" | "stopped" | "unknown";

export interface VmStatus {
  hostname: string;
  hostGroup: string;
  tags: string[];
  ip: string;
  state: VmState;
  /** Last request start or end, or WebSocket activity, as ISO 8601; null if none since start. */
  lastActivity: string | null;
  inFlightRequests: number;
  openWebSockets: number;
  /** Effective idle timeout in ms, or null when the VM is never paused. */
  idleTimeoutMs: number | null;
}

export interface StatusReport {
  slicer: {
    /** Whether the last call to slicerd got a response. */
    reachable: boolean;
    /** When slicerd last responded, as ISO 8601, or null. */
    lastAnswerAt: string | null;
  };
  index: {
    /** When the VM index last refreshed successfully, as ISO 8601, or null before that. */
    refreshedAt: string | null;
    /** Time since the last successful refresh in ms, or null before the first one. */
    ageMs: number | null;
  };
  vms: VmStatus[];
}
