/** OverdueSweep: which watched entries are reported, and when. */
import assert from "node:assert/strict";
import { OverdueSweep, type Watched } from "../../src/overdue.ts";
import type { CaseGroup } from "../support/cases.ts";
import { sleep } from "../proxy/harness.ts";

class Entry implements Watched {
  readonly startedAt = performance.now();
  watchIndex = -1;

  constructor(readonly name: string) {}
}

/** Deadline of the sweeps under test, in ms. A sweep runs every quarter of it. */
const afterMs = 40;
/** Wait after which every entry added before it is past its deadline and swept. */
const pastDeadlineMs = afterMs * 2.5;

function newSweep(): { sweep: OverdueSweep<Entry>; reported: string[] } {
  const reported: string[] = [];
  const sweep = new OverdueSweep<Entry>(afterMs, (entry) => reported.push(entry.name));
  return { sweep, reported };
}

export const overdueCases: CaseGroup = {
  name: "overdue sweep",
  cases: [
    {
      name: "entry reported once",
      async run() {
        const { sweep, reported } = newSweep();
        const entry = new Entry("a");
        sweep.add(entry);

        await sleep(pastDeadlineMs);
        await sleep(pastDeadlineMs);

        assert.deepEqual(reported, ["a"]);
        assert.equal(entry.watchIndex, -1);
        assert.equal(sweep.size, 0);
      },
    },
    {
      name: "entry not reported early",
      async run() {
        const lateness: number[] = [];
        const sweep = new OverdueSweep<Entry>(afterMs, (entry) => {
          lateness.push(performance.now() - entry.startedAt);
        });
        sweep.add(new Entry("a"));

        await sleep(pastDeadlineMs);

        assert.equal(lateness.length, 1);
        assert.ok(lateness[0]! >= afterMs, `reported after ${lateness[0]} ms`);
      },
    },
    {
      name: "deleted entries not reported",
      async run() {
        const { sweep, reported } = newSweep();
        const entries = ["a", "b", "c", "d", "e"].map((name) => new Entry(name));
        for (const entry of entries) sweep.add(entry);

        // Deleting from the middle, the end and the start moves the last
        // entry into each freed position.
        sweep.delete(entries[1]!);
        sweep.delete(entries[4]!);
        sweep.delete(entries[0]!);
        assert.equal(sweep.size, 2);
        await sleep(pastDeadlineMs);

        assert.deepEqual(reported.toSorted(), ["c", "d"]);
      },
    },
    {
      name: "delete twice is harmless",
      async run() {
        const { sweep, reported } = newSweep();
        const remaining = new Entry("remaining");
        const removed = new Entry("removed");
        sweep.add(removed);
        sweep.add(remaining);

        sweep.delete(removed);
        sweep.delete(removed);
        assert.equal(sweep.size, 1);
        await sleep(pastDeadlineMs);

        assert.deepEqual(reported, ["remaining"]);
      },
    },
    {
      name: "entry of another sweep left alone",
      async run() {
        const first = newSweep();
        const second = newSweep();
        const entry = new Entry("a");
        first.sweep.add(entry);

        second.sweep.delete(entry);
        assert.equal(first.sweep.size, 1);
        await sleep(pastDeadlineMs);

        assert.deepEqual(first.reported, ["a"]);
        assert.deepEqual(second.reported, []);
      },
    },
    {
      name: "add twice watches once",
      async run() {
        const { sweep, reported } = newSweep();
        const entry = new Entry("a");
        sweep.add(entry);
        sweep.add(entry);
        assert.equal(sweep.size, 1);

        await sleep(pastDeadlineMs);
        assert.deepEqual(reported, ["a"]);
      },
    },
    {
      name: "callback deleting another entry",
      async run() {
        const entries = ["a", "b"].map((name) => new Entry(name));
        const reported: string[] = [];
        const sweep = new OverdueSweep<Entry>(afterMs, (entry) => {
          reported.push(entry.name);
          // Both entries are due in the same sweep, and the first reported ends the other.
          for (const other of entries) sweep.delete(other);
        });
        for (const entry of entries) sweep.add(entry);

        await sleep(pastDeadlineMs);

        assert.equal(reported.length, 1);
        assert.equal(sweep.size, 0);
      },
    },
  ],
};
