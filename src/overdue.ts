/**
 * Deadlines for many requests at once with one interval timer. A timer per
 * request costs a timer allocation and a cancel on every exchange, while
 * almost every request ends long before its deadline.
 *
 * Watched entries sit in an array and know their own position in it, so an
 * add and a delete per request allocate nothing. A `Set` in its place made
 * JavaScriptCore (Bun 1.4.5) run 25 to 29 full collections in 5 s of
 * keep-alive load, against 5 to 7 with the array. That cost about 15% of the
 * requests per second (measured with `BUN_JSC_logGC=1` under `wrk`).
 */

/** A request being watched, from `OverdueSweep.add`. */
export interface Watched {
  /** `performance.now()` when the watch began. */
  readonly startedAt: number;
  /**
   * Position in the sweep's list while watched, set by the sweep. An entry
   * starts with -1 and is watched by at most one sweep at a time.
   */
  watchIndex: number;
}

/**
 * Calls `onOverdue` once for each watched entry still present `afterMs`
 * after it was added. A sweep runs every quarter of `afterMs`, so the call
 * comes between `afterMs` and 1.25 times `afterMs` late. The timer runs only
 * while entries are watched, so an idle process has none.
 */
export class OverdueSweep<T extends Watched> {
  readonly #afterMs: number;
  readonly #periodMs: number;
  readonly #onOverdue: (entry: T) => void;
  readonly #entries: T[] = [];
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(afterMs: number, onOverdue: (entry: T) => void) {
    this.#afterMs = afterMs;
    this.#periodMs = Math.max(1, afterMs / 4);
    this.#onOverdue = onOverdue;
  }

  /** Number of entries being watched. */
  get size(): number {
    return this.#entries.length;
  }

  /** Starts watching `entry`, unless it is already watched. */
  add(entry: T): void {
    if (entry.watchIndex !== -1) return;
    entry.watchIndex = this.#entries.length;
    this.#entries.push(entry);
    this.#timer ??= setInterval(() => this.#sweep(), this.#periodMs);
  }

  /** Ends the watch of `entry`; does nothing when it was already reported or removed. */
  delete(entry: T): void {
    const index = entry.watchIndex;
    if (index === -1 || this.#entries[index] !== entry) return;
    entry.watchIndex = -1;
    // The last entry takes the freed position, so no entry after it moves.
    const last = this.#entries.pop()!;
    if (last !== entry) {
      this.#entries[index] = last;
      last.watchIndex = index;
    }
  }

  #sweep(): void {
    if (this.#entries.length === 0) {
      clearInterval(this.#timer);
      this.#timer = undefined;
      return;
    }

    const cutoff = performance.now() - this.#afterMs;
    const due = this.#entries.filter((entry) => entry.startedAt <= cutoff);
    for (const entry of due) {
      // An earlier `onOverdue` call may have ended or restarted this entry's watch.
      if (entry.watchIndex === -1 || entry.startedAt > cutoff) continue;
      this.delete(entry);
      this.#onOverdue(entry);
    }
  }
}

/**
 * Returns a function that gives the sweep for a deadline of `afterMs`, made
 * on first use, so that requests with the same deadline share one timer. A
 * listener's options rarely change, so few deadlines are ever in use.
 */
export function sweepsByDeadline<T extends Watched>(
  onOverdue: (entry: T, afterMs: number) => void,
): (afterMs: number) => OverdueSweep<T> {
  const sweeps = new Map<number, OverdueSweep<T>>();
  return (afterMs) => {
    let sweep = sweeps.get(afterMs);
    if (sweep === undefined) {
      sweep = new OverdueSweep<T>(afterMs, (entry) => onOverdue(entry, afterMs));
      sweeps.set(afterMs, sweep);
    }
    return sweep;
  };
}
