/** A streamed response body for the Bun adapter's upstream client. */
import { release } from "./chunks.ts";

/** Bytes a streamed response body may queue before reading from the upstream pauses. */
const streamHighWaterMark = 256 * 1024;

/**
 * A streamed response body written straight into Bun's response sink with a
 * direct `ReadableStream`, which keeps no queue of its own. Chunks that
 * arrive before the destination first pulls wait in a short list.
 *
 * `pull` returns at once, so the stream stays open until `close`, and later
 * chunks are written as they arrive, which both `Bun.serve` and readers take.
 * Backpressure comes from the server's `flush()`, whose promise is pending
 * while the client is behind. Readers (`getReader()`, `text()`) get no
 * backpressure: their `flush()` returns nothing.
 */
export class DirectBody {
  readonly stream: ReadableStream<Uint8Array>;
  /** True while reading from the upstream is paused for backpressure. */
  paused = false;
  readonly #onPressure: (paused: boolean) => void;
  #controller: ReadableStreamDirectController | undefined;
  #waiting: Uint8Array[] = [];
  #waitingBytes = 0;
  #outcome: { error: Error } | "closed" | undefined;
  /** Flushes that have not yet reached the socket. */
  #unflushed = 0;

  constructor(onPressure: (paused: boolean) => void, onCancel: () => void) {
    this.#onPressure = onPressure;
    const source: Bun.DirectUnderlyingSource<Uint8Array> = {
      type: "direct",
      pull: (controller) => this.#pull(controller),
      cancel: onCancel,
    };
    // The DOM typings that this project compiles with lack Bun's overload.
    const DirectStream = ReadableStream as unknown as new (
      source: Bun.DirectUnderlyingSource<Uint8Array>,
    ) => ReadableStream<Uint8Array>;
    this.stream = new DirectStream(source);
  }

  /**
   * Writes `chunk`, and returns true when its bytes were copied, so the
   * caller may release it; false when it waits for the first pull.
   */
  write(chunk: Uint8Array): boolean {
    const controller = this.#controller;
    if (controller === undefined) {
      this.#waiting.push(chunk);
      this.#waitingBytes += chunk.byteLength;
      if (this.#waitingBytes >= streamHighWaterMark) this.#pressure(true);
      return false;
    }

    // A promise from `write` or `flush` means the client reads slower than
    // the app writes. Flushing each chunk sends events such as SSE at once.
    // Bun 1.4.5 copies the bytes in both calls, for the server's sink and
    // for readers alike.
    this.#watch(controller.write(chunk));
    this.#watch(controller.flush());
    return true;
  }

  #watch(result: unknown): void {
    if (!(result instanceof Promise)) return;
    this.#unflushed++;
    this.#pressure(true);
    result.then(() => this.#flushed(), () => this.#flushed());
  }

  close(): void {
    if (this.#outcome !== undefined) return;
    this.#outcome = "closed";
    this.#controller?.close();
  }

  error(error: unknown): void {
    if (this.#outcome !== undefined) return;
    const reason = error instanceof Error ? error : new Error(String(error));
    this.#outcome = { error: reason };
    this.#controller?.close(reason);
  }

  #pull(controller: ReadableStreamDirectController): void {
    if (this.#controller !== undefined) return;
    this.#controller = controller;
    const waiting = this.#waiting;
    this.#waiting = [];
    this.#waitingBytes = 0;
    this.#pressure(false);
    for (const chunk of waiting) {
      this.write(chunk);
      release(chunk);
    }

    const outcome = this.#outcome;
    if (outcome === "closed") controller.close();
    else if (outcome !== undefined) controller.close(outcome.error);
  }

  #flushed(): void {
    this.#unflushed--;
    if (this.#unflushed === 0) this.#pressure(false);
  }

  #pressure(paused: boolean): void {
    if (paused === this.paused) return;
    this.paused = paused;
    this.#onPressure(paused);
  }
}
