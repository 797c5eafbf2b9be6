/** `relight status`: prints a running Relight's VMs and slicerd state from `GET /status`. */
import { ConfigError, formatDuration, loadConfig } from "../config/index.ts";
import type { StatusReport, VmStatus } from "../status.ts";
import { AdminClientError, adminRequest, errorsFromResponse } from "./admin-client.ts";
import { type CommandOutput, ExitCode } from "./io.ts";

const COLUMNS = [
  "HOSTNAME",
  "STATE",
  "TAGS",
  "IP",
  "LAST ACTIVITY",
  "IN-FLIGHT",
  "WEBSOCKETS",
] as const;

/** Formats a status report as a header and an aligned table; `now` is ms since the epoch. */
export function formatStatus(report: StatusReport, now: number = Date.now()): string {
  const reachable = report.slicer.reachable ? "reachable" : "unreachable";
  const lastResponse = report.slicer.lastAnswerAt === null
    ? "no response yet"
    : `last response ${formatAge(report.slicer.lastAnswerAt, now)}`;
  const index = report.index.ageMs === null
    ? "not refreshed yet"
    : `refreshed ${formatDuration(Math.max(0, Math.round(report.index.ageMs)))} ago`;

  const lines = [
    `slicerd: ${reachable} (${lastResponse})`,
    `index:   ${index}, ${report.vms.length} ${report.vms.length === 1 ? "VM" : "VMs"}`,
  ];
  if (report.vms.length === 0) return lines.join("\n");

  const rows = report.vms.map((vm) => formatRow(vm, now));
  lines.push("", ...alignColumns([[...COLUMNS], ...rows]));
  return lines.join("\n");
}

function formatRow(vm: VmStatus, now: number): string[] {
  return [
    vm.hostname,
    vm.state,
    vm.tags.length === 0 ? "-" : vm.tags.join(","),
    vm.ip === "" ? "-" : vm.ip,
    vm.lastActivity === null ? "never" : formatAge(vm.lastActivity, now),
    String(vm.inFlightRequests),
    String(vm.openWebSockets),
  ];
}

/** Formats an ISO 8601 time as an age such as `1m5s ago`, in whole seconds. */
function formatAge(iso: string, now: number): string {
  const time = Date.parse(iso);
  if (Number.isNaN(time)) return iso;

  const seconds = Math.max(0, Math.round((now - time) / 1000));
  return seconds === 0 ? "just now" : `${formatDuration(seconds * 1000)} ago`;
}

/** Pads every column but the last to its widest cell, two spaces apart. */
function alignColumns(rows: string[][]): string[] {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, column) => {
      widths[column] = Math.max(widths[column] ?? 0, cell.length);
    });
  }

  return rows.map((row) =>
    row
      .map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column] ?? 0)))
      .join("  ")
  );
}

/** Checks that a `GET /status` body has the fields the table reads. */
function isStatusReport(body: unknown): body is StatusReport {
  if (typeof body !== "object" || body === null) return false;
  const report = body as Partial<StatusReport>;
  return typeof report.slicer === "object" && typeof report.index === "object" &&
    Array.isArray(report.vms);
}

/** Runs `relight status`. */
export async function statusCommand(
  configPath: string,
  json: boolean,
  output: CommandOutput,
  env: Record<string, string | undefined>,
): Promise<number> {
  try {
    const config = await loadConfig(configPath, env);
    const response = await adminRequest(config, "GET", "/status");
    if (!response.ok) {
      const errors = await errorsFromResponse(response);
      for (const error of errors) output.err(`relight status: ${error}`);
      return ExitCode.failure;
    }

    const body: unknown = await response.json();
    if (!isStatusReport(body)) {
      output.err("relight status: the admin server returned an unexpected /status body");
      return ExitCode.failure;
    }

    output.out(json ? JSON.stringify(body, null, 2) : formatStatus(body));
    return ExitCode.ok;
  } catch (error) {
    return reportCommandError("status", error, output);
  }
}

/** Prints a config or admin error and returns its exit code; rethrows anything else. */
export function reportCommandError(
  command: string,
  error: unknown,
  output: CommandOutput,
): number {
  if (error instanceof ConfigError) {
    for (const message of error.messages) output.err(message);
    return ExitCode.usage;
  }
  if (error instanceof AdminClientError) {
    output.err(`relight ${command}: ${error.message}`);
    return ExitCode.failure;
  }
  throw error;
}
