/**
 * LineWriter against a real Writable whose destination takes lines only when
 * the test lets it: the cap on unwritten lines, the drop report, and the
 * wait for a drained stream.
 */
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { LineWriter } from "../../src/logging/line-writer.ts";
import type { CaseGroup } from "../support/cases.ts";

/** A Writable that keeps every chunk until `release` lets it through. */
class StalledStream extends Writable {
  readonly written: string[] = [];
  #held: (() => void)[] = [];

  constructor() {
    // A high-water mark of one chunk, so the stream buffers the rest itself.
    super({ highWaterMark: 1, decodeStrings: false });
  }

  override _write(chunk: string, _encoding: string, callback: () => void): void {
    this.#held.push(() => {
      this.written.push(chunk);
      callback();
    });
  }

  /** Lets the destination take every chunk written so far, and those that follow. */
  async release(): Promise<void> {
    while (this.#held.length > 0) {
      this.#held.shift()!();
      // Writable calls _write for the next buffered chunk after a tick.
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
  }
}

function lines(count: number, from = 0): string[] {
  return Array.from({ length: count }, (_, i) => `line ${from + i}\n`);
}

export const lineWriterCases: CaseGroup = {
  name: "log line writer",
  cases: [
    {
      name: "drops past the pending limit",
      async run() {
        const stream = new StalledStream();
        const resumed: number[] = [];
        const writer = new LineWriter(stream, {
          maxPendingLines: 4,
          onResume: (dropped) => resumed.push(dropped),
        });

        for (const line of lines(10)) writer.write(line);
        assert.equal(writer.pending, 4);

        await stream.release();
        assert.deepEqual(stream.written, lines(4));
        assert.equal(writer.pending, 0);
        assert.deepEqual(resumed, [6]);
      },
    },
    {
      name: "writes again after the drop",
      async run() {
        const stream = new StalledStream();
        const writer = new LineWriter(stream, { maxPendingLines: 2 });
        for (const line of lines(5)) writer.write(line);
        await stream.release();

        for (const line of lines(2, 5)) writer.write(line);
        await stream.release();

        assert.deepEqual(stream.written, [...lines(2), ...lines(2, 5)]);
      },
    },
    {
      name: "other lines pass the limit",
      async run() {
        const stream = new StalledStream();
        const writer = new LineWriter(stream, { maxPendingLines: 2 });
        for (const line of lines(3)) writer.write(line);
        writer.write("relight stopped\n", false);

        assert.equal(writer.pending, 3);
        await stream.release();
        assert.deepEqual(stream.written, [...lines(2), "relight stopped\n"]);
      },
    },
    {
      name: "takeDropped returns and clears",
      run() {
        const writer = new LineWriter(new StalledStream(), { maxPendingLines: 1 });
        for (const line of lines(4)) writer.write(line);

        assert.equal(writer.takeDropped(), 3);
        assert.equal(writer.takeDropped(), 0);
      },
    },
    {
      name: "drained waits for the stream",
      async run() {
        const stream = new StalledStream();
        const writer = new LineWriter(stream);
        for (const line of lines(3)) writer.write(line);

        let drained: boolean | undefined;
        const waiting = writer.drained(5_000).then((result) => (drained = result));
        await new Promise((resolve) => setTimeout(resolve, 20));
        assert.equal(drained, undefined);

        await stream.release();
        await waiting;
        assert.equal(drained, true);
      },
    },
    {
      name: "drained gives up after the timeout",
      async run() {
        const stream = new StalledStream();
        const writer = new LineWriter(stream);
        writer.write("stuck\n");

        assert.equal(await writer.drained(30), false);
        assert.equal(writer.pending, 1);
      },
    },
    {
      name: "drained at once when idle",
      async run() {
        const writer = new LineWriter(new StalledStream());
        assert.equal(await writer.drained(0), true);
      },
    },
  ],
};
