/**
 * Fault injection and the call log: per-endpoint latency, failures of the
 * next N calls, and calls that hang until released.
 */
import type { CallRecord, Endpoint } from "./types.ts";

export interface InjectedFailure {
  status: number;
  message: string;
}

export class Faults {
  readonly #latencyMs = new Map<Endpoint, number>();
  readonly #failures = new Map<Endpoint, { remaining: number; status: number }>();
  readonly #hanging = new Set<Endpoint>();
  readonly #waiters = new Map<Endpoint, Set<() => void>>();
  #calls: CallRecord[] = [];

  record(call: CallRecord): void {
    this.#calls.push(call);
  }

  calls(): CallRecord[] {
    return this.#calls.map((call) => ({ ...call }));
  }

  countCalls(endpoint: Endpoint, hostname?: string): number {
    return this.#calls.filter((call) =>
      call.endpoint === endpoint && (hostname === undefined || call.hostname === hostname)
    ).length;
  }

  clearCalls(): void {
    this.#calls = [];
  }

  setLatency(endpoint: Endpoint, ms: number): void {
    checkNonNegativeInteger("latency", ms);
    if (ms === 0) this.#latencyMs.delete(endpoint);
    else this.#latencyMs.set(endpoint, ms);
  }

  failNext(endpoint: Endpoint, count: number, status: number): void {
    checkNonNegativeInteger("count", count);
    if (!Number.isInteger(status) || status < 400 || status > 599) {
      throw new RangeError(`Invalid failure status ${status}: use an HTTP error status (400-599)`);
    }
    if (count === 0) this.#failures.delete(endpoint);
    else this.#failures.set(endpoint, { remaining: count, status });
  }

  hang(endpoint: Endpoint, on: boolean): void {
    if (on) {
      this.#hanging.add(endpoint);
      return;
    }
    this.#hanging.delete(endpoint);
    this.#release(endpoint);
  }

  /** Releases every hanging call, so that stopping the simulator leaves no pending work. */
  releaseAll(): void {
    this.#hanging.clear();
    for (const endpoint of this.#waiters.keys()) this.#release(endpoint);
  }

  #release(endpoint: Endpoint): void {
    const waiters = this.#waiters.get(endpoint);
    this.#waiters.delete(endpoint);
    for (const wake of waiters ?? []) wake();
  }

  /**
   * Applies the faults set for `endpoint` to one call, in order: latency, then
   * hanging, then an injected failure, which it returns for the caller to send.
   */
  async apply(endpoint: Endpoint): Promise<InjectedFailure | undefined> {
    const latencyMs = this.#latencyMs.get(endpoint);
    if (latencyMs !== undefined) {
      await new Promise((resolve) => setTimeout(resolve, latencyMs));
    }

    if (this.#hanging.has(endpoint)) {
      await new Promise<void>((resolve) => {
        const waiters = this.#waiters.get(endpoint) ?? new Set();
        waiters.add(resolve);
        this.#waiters.set(endpoint, waiters);
      });
    }

    const failure = this.#failures.get(endpoint);
    if (!failure) return undefined;
    failure.remaining -= 1;
    if (failure.remaining <= 0) this.#failures.delete(endpoint);
    return { status: failure.status, message: `simulated failure of ${endpoint}` };
  }
}

function checkNonNegativeInteger(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 0) {
    throw new RangeError(`Invalid ${name} ${value}: use a non-negative integer`);
  }
}
