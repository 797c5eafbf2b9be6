/** Fleet file validation and Go duration parsing. */
import { describe, expect, test } from "bun:test";
import { fileURLToPath } from "node:url";
import { parseDurationMs } from "../../src/sim/duration.ts";
import { loadFleetFile, parseFleet } from "../../src/sim/fleet.ts";

describe("parseFleet", () => {
  test("demo fleet loads", () => {
    const fleet = loadFleetFile(
      fileURLToPath(new URL("../../scripts/demo-fleet.yaml", import.meta.url)),
    );
    const vms = fleet.host_groups[0]?.vms ?? [];
    expect(vms.map((vm) => vm.tags[0])).toEqual(["hello", "events", "chat"]);
    expect(vms.map((vm) => vm.status ?? "Running")).toEqual(["Running", "Running", "Paused"]);
  });

  test("command may be a string or an argv", () => {
    const fleet = parseFleet({
      host_groups: [
        { name: "a", command: "python3 -m http.server $PORT" },
        { name: "b", command: ["bun", "app.ts"] },
      ],
    });
    expect(fleet.host_groups[0]?.command).toBe("python3 -m http.server $PORT");
    expect(fleet.host_groups[1]?.command).toEqual(["bun", "app.ts"]);
  });

  const invalid: [string, unknown, string][] = [
    ["missing host_groups", {}, "host_groups"],
    ["bad port", { host_groups: [{ name: "a", app_port: 0 }] }, "host_groups.0.app_port"],
    [
      "bad status",
      { host_groups: [{ name: "a", vms: [{ tags: [], status: "Asleep" }] }] },
      "host_groups.0.vms.0.status",
    ],
    ["unknown key", { host_groups: [{ name: "a", port: 80 }] }, "port"],
    ["bad name", { host_groups: [{ name: "Apps!" }] }, "host_groups.0.name"],
    ["empty command", { host_groups: [{ name: "a", command: "" }] }, "host_groups.0.command"],
    [
      "duplicate group",
      { host_groups: [{ name: "a" }, { name: "a" }] },
      `host group "a" is defined twice`,
    ],
  ];
  for (const [name, document, expected] of invalid) {
    test(`rejects ${name}`, () => {
      expect(() => parseFleet(document, "test")).toThrow(expected);
    });
  }

  test("missing file names the path", () => {
    expect(() => loadFleetFile("/nonexistent/fleet.yaml")).toThrow(
      "Cannot read fleet file /nonexistent/fleet.yaml",
    );
  });
});

describe("parseDurationMs", () => {
  const valid: [string, number][] = [
    ["500ms", 500],
    ["30s", 30_000],
    ["2m", 120_000],
    ["1m30s", 90_000],
    ["1.5s", 1500],
    ["0", 0],
    ["1h", 3_600_000],
  ];
  for (const [text, ms] of valid) {
    test(`parses ${text}`, () => {
      expect(parseDurationMs(text)).toBe(ms);
    });
  }
  for (const text of ["", "5", "soon", "5 s", "-1s", "1d"]) {
    test(`rejects "${text}"`, () => {
      expect(() => parseDurationMs(text)).toThrow(`Invalid duration "${text}"`);
    });
  }
});
