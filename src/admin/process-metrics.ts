/**
 * prom-client's process and runtime metrics, corrected for runtimes that
 * cannot read procfs. prom-client 15.1.3 reads `/proc/self/status` and
 * `/proc/self/fd` on Linux and ignores read errors, so where those reads fail
 * (Deno 2.9.6 requires --allow-all for /proc/self) it would report 0 bytes
 * of memory and 0 open files.
 */
import { readdirSync, readFileSync } from "node:fs";
import process from "node:process";
import { collectDefaultMetrics, Gauge, type Registry } from "prom-client";

/** Metrics that prom-client fills from `/proc/self/status`. */
const statusMetrics = ["process_virtual_memory_bytes", "process_heap_bytes"];
const residentMemory = "process_resident_memory_bytes";
const openFileDescriptors = "process_open_fds";

function canRead(read: () => unknown): boolean {
  try {
    read();
    return true;
  } catch {
    return false;
  }
}

/**
 * Registers prom-client's default metrics in `registry` with names starting
 * with `prefix`. Where `/proc/self/status` is unreadable, resident memory
 * comes from `process.memoryUsage().rss` instead, and virtual memory and
 * heap size are left out. Where `/proc/self/fd` is unreadable, the open file
 * count is left out.
 */
export function collectProcessMetrics(registry: Registry, prefix: string): void {
  collectDefaultMetrics({ register: registry, prefix });
  if (process.platform !== "linux") return;

  if (!canRead(() => readFileSync("/proc/self/status", "utf8"))) {
    for (const name of [...statusMetrics, residentMemory]) {
      registry.removeSingleMetric(prefix + name);
    }
    new Gauge({
      name: prefix + residentMemory,
      help: "Resident memory size in bytes.",
      registers: [registry],
      collect() {
        this.set(process.memoryUsage().rss);
      },
    });
  }

  if (!canRead(() => readdirSync("/proc/self/fd"))) {
    registry.removeSingleMetric(prefix + openFileDescriptors);
  }
}
