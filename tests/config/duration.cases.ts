import assert from "node:assert/strict";
import { formatDuration, parseDuration } from "../../src/config/index.ts";
import { CaseCollector } from "./collect.ts";

const collector = new CaseCollector("config durations");
const { describe, test } = collector;

describe("parseDuration", () => {
  const valid: [string, number][] = [
    ["250ms", 250],
    ["30s", 30_000],
    ["5m", 300_000],
    ["1h30m", 5_400_000],
    ["1.5h", 5_400_000],
    ["2m0.5s", 120_500],
    ["0s", 0],
    ["-5s", -5_000],
  ];
  for (const [text, ms] of valid) {
    test(`reads ${text}`, () => {
      assert.equal(parseDuration(text), ms);
    });
  }

  for (const text of ["30", "", "s", "5 m", "1d", "1h-5m", "ms5", "1.s", "1e3s"]) {
    test(`rejects "${text}"`, () => {
      assert.equal(parseDuration(text), undefined);
    });
  }
});

describe("formatDuration", () => {
  const cases: [number, string][] = [
    [0, "0s"],
    [250, "250ms"],
    [30_000, "30s"],
    [5_400_000, "1h30m"],
    [120_500, "2m500ms"],
  ];
  for (const [ms, text] of cases) {
    test(`writes ${text}`, () => {
      assert.equal(formatDuration(ms), text);
      assert.equal(parseDuration(text), ms);
    });
  }
});

export const durationCases = collector.group();
