/**
 * The time source of Relight. Activity timestamps, the idle watcher, the
 * background index refresh and the unknown-host flood guard all read this
 * clock, so tests can drive idle pausing at real minimums (30 s and more)
 * by advancing a test clock instead of waiting.
 */

/** An opaque handle returned by `setInterval`. */
export interface IntervalHandle {
  readonly id: unknown;
}

export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  /** Calls `callback` every `ms` milliseconds until cleared. */
  setInterval(callback: () => void, ms: number): IntervalHandle;
  clearInterval(handle: IntervalHandle): void;
}

/** The wall clock and the runtime's own timers. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setInterval(callback, ms) {
    const id = setInterval(callback, ms);
    return { id };
  },
  clearInterval(handle) {
    clearInterval(handle.id as ReturnType<typeof setInterval>);
  },
};
