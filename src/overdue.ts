/**
 * Deadlines for many requests at once with one interval timer. A timer per
 * request costs a timer allocation and a cancel on every exchange, while
 * almost every request ends long before its deadline.
 */

/** A request being watched, from `OverdueSweep.add`. */
export interface Watched {
  /** `performance.now()` when the watch began. */
  readonly startedAt: number;
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
  readonly #entries = new Set<T>();
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(afterMs: number, onOverdue: (entry: T) => void) {
    this.#afterMs = afterMs;
    this.#periodMs = Math.max(1, afterMs / 4);
    this.#onOverdue = onOverdue;
  }

  add(entry: T): void {
    this.#entries.add(entry);
    this.#timer ??= setInterval(() => this.#sweep(), this.#periodMs);
  }

  /** Ends the watch of `entry`; does nothing when it was already reported or removed. */
  delete(entry: T): void {
    this.#entries.delete(entry);
  }

  #sweep(): void {
    if (this.#entries.size === 0) {
      clearInterval(this.#timer);
      this.#timer = undefined;
      return;
    }

    const cutoff = performance.now() - this.#afterMs;
    for (const entry of this.#entries) {
      if (entry.startedAt > cutoff) continue;
      this.#entries.delete(entry);
      this.#onOverdue(entry);
    }
  }
}
