/**
 * A clock that moves only when a test advances it. Interval callbacks run
 * inside `advance`, in time order, so a test can cross a 5 minute idle
 * timeout in microseconds.
 */
import type { Clock, IntervalHandle } from "../../src/clock.ts";

interface Interval {
  callback: () => void;
  everyMs: number;
  nextAt: number;
}

export class TestClock implements Clock {
  #now: number;
  readonly #intervals = new Map<IntervalHandle, Interval>();

  constructor(start = Date.UTC(2026, 0, 1)) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setInterval(callback: () => void, ms: number): IntervalHandle {
    const handle: IntervalHandle = { id: Symbol("interval") };
    this.#intervals.set(handle, { callback, everyMs: ms, nextAt: this.#now + ms });
    return handle;
  }

  clearInterval(handle: IntervalHandle): void {
    this.#intervals.delete(handle);
  }

  /** Number of intervals currently scheduled. */
  get intervalCount(): number {
    return this.#intervals.size;
  }

  /**
   * Moves time forward by `ms`, running every interval callback that falls
   * due on the way, and lets pending promise callbacks run after each one.
   */
  async advance(ms: number): Promise<void> {
    const target = this.#now + ms;
    for (;;) {
      const due = this.#nextDue(target);
      if (due === undefined) break;
      this.#now = due.nextAt;
      due.nextAt += due.everyMs;
      due.callback();
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    this.#now = target;
  }

  #nextDue(limit: number): Interval | undefined {
    let earliest: Interval | undefined;
    for (const interval of this.#intervals.values()) {
      if (interval.nextAt > limit) continue;
      if (earliest === undefined || interval.nextAt < earliest.nextAt) earliest = interval;
    }
    return earliest;
  }
}
