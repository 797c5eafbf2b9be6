/**
 * Process and runtime metrics with the names, help texts and types of
 * prom-client 15.1.3's default metrics, limited to CPU time, start time,
 * memory, file descriptors, event loop lag and heap size. Values come from
 * `node:process` and from procfs on Linux. Where procfs is unreadable (Deno
 * 2.9.6 reads `/proc/self` only with --allow-all), the metrics that need it
 * are left out rather than shown as 0, except resident memory, which then
 * comes from `process.memoryUsage().rss`.
 */
import { readdirSync, readFileSync } from "node:fs";
import process from "node:process";
import { setImmediate } from "node:timers";
import { Counter, Gauge, type Registry } from "./prometheus.ts";

/** Memory sizes in bytes from `/proc/self/status`. */
interface StatusMemory {
  /** From VmRSS. */
  resident: number | undefined;
  /** From VmSize. */
  virtual: number | undefined;
  /** From VmData. */
  heap: number | undefined;
}

/** Returns the size in bytes from a line such as "VmRSS:     58676 kB". */
function statusBytes(status: string, field: string): number | undefined {
  const match = new RegExp(`^${field}:\\s*(\\d+) kB$`, "m").exec(status);
  return match?.[1] === undefined ? undefined : Number(match[1]) * 1024;
}

/** Reads `/proc/self/status`, or returns undefined where it is unreadable. */
function readStatusMemory(): StatusMemory | undefined {
  let status: string;
  try {
    status = readFileSync("/proc/self/status", "utf8");
  } catch {
    return undefined;
  }
  return {
    resident: statusBytes(status, "VmRSS"),
    virtual: statusBytes(status, "VmSize"),
    heap: statusBytes(status, "VmData"),
  };
}

/** Returns the number of open file descriptors, or undefined where `/proc/self/fd` is unreadable. */
function countOpenFileDescriptors(): number | undefined {
  try {
    // Minus the descriptor that readdirSync opened for the listing, as
    // prom-client 15.1.3 does. That descriptor is closed when the call returns.
    return readdirSync("/proc/self/fd").length - 1;
  } catch {
    return undefined;
  }
}

/** Returns the soft limit of open files, or undefined where `/proc/self/limits` is unreadable. */
function readMaxFileDescriptors(): number | undefined {
  let text: string;
  try {
    text = readFileSync("/proc/self/limits", "utf8");
  } catch {
    return undefined;
  }

  // "Max open files            1024                 524288               files"
  const match = /^Max open files\s+(\d+)/m.exec(text);
  return match?.[1] === undefined ? undefined : Number(match[1]);
}

/** Resolves after the current event loop turn, when its setImmediate callbacks run. */
function nextImmediate(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Registers the CPU time counters, which one `process.cpuUsage()` call sets at each scrape. */
function registerCpuMetrics(registry: Registry, prefix: string): void {
  const system = new Counter({
    name: `${prefix}process_cpu_system_seconds_total`,
    help: "Total system CPU time spent in seconds.",
  });
  const total = new Counter({
    name: `${prefix}process_cpu_seconds_total`,
    help: "Total user and system CPU time spent in seconds.",
  });
  const user = new Counter({
    name: `${prefix}process_cpu_user_seconds_total`,
    help: "Total user CPU time spent in seconds.",
    // Counters have no set(), so each scrape resets them and adds the
    // process totals. prom-client 15.1.3 counts from its registration instead.
    collect() {
      const usage = process.cpuUsage();
      for (const counter of [this, system, total]) counter.reset();
      this.inc(usage.user / 1e6);
      system.inc(usage.system / 1e6);
      total.inc((usage.user + usage.system) / 1e6);
    },
  });
  registry.registerMetric(user);
  registry.registerMetric(system);
  registry.registerMetric(total);
}

/**
 * Registers the memory gauges. Resident memory, virtual memory and heap
 * size come from `/proc/self/status`, as in prom-client 15.1.3. Where it is
 * unreadable at registration, only resident memory is registered, from
 * `process.memoryUsage().rss`.
 */
function registerMemoryMetrics(registry: Registry, prefix: string): void {
  const resident = `${prefix}process_resident_memory_bytes`;
  const residentHelp = "Resident memory size in bytes.";

  if (readStatusMemory() === undefined) {
    registry.registerMetric(
      new Gauge({
        name: resident,
        help: residentHelp,
        collect() {
          this.set(process.memoryUsage().rss);
        },
      }),
    );
    return;
  }

  const virtual = new Gauge({
    name: `${prefix}process_virtual_memory_bytes`,
    help: "Virtual memory size in bytes.",
  });
  const heap = new Gauge({
    name: `${prefix}process_heap_bytes`,
    help: "Process heap size in bytes.",
  });
  registry.registerMetric(
    new Gauge({
      name: resident,
      help: residentHelp,
      // A failed read keeps the values of the last scrape.
      collect() {
        const memory = readStatusMemory();
        if (memory?.resident !== undefined) this.set(memory.resident);
        if (memory?.virtual !== undefined) virtual.set(memory.virtual);
        if (memory?.heap !== undefined) heap.set(memory.heap);
      },
    }),
  );
  registry.registerMetric(virtual);
  registry.registerMetric(heap);
}

/** Registers the file descriptor gauges that procfs can fill at registration. */
function registerFileDescriptorMetrics(registry: Registry, prefix: string): void {
  if (countOpenFileDescriptors() !== undefined) {
    registry.registerMetric(
      new Gauge({
        name: `${prefix}process_open_fds`,
        help: "Number of open file descriptors.",
        collect() {
          const count = countOpenFileDescriptors();
          if (count !== undefined) this.set(count);
        },
      }),
    );
  }

  // Read once, as prom-client 15.1.3 does.
  const maxFileDescriptors = readMaxFileDescriptors();
  if (maxFileDescriptors !== undefined) {
    registry.registerMetric(
      new Gauge({
        name: `${prefix}process_max_fds`,
        help: "Maximum number of open file descriptors.",
        collect() {
          this.set(maxFileDescriptors);
        },
      }),
    );
  }
}

/** Registers the heap gauges, which one `process.memoryUsage()` call sets at each scrape. */
function registerHeapMetrics(registry: Registry, prefix: string): void {
  const used = new Gauge({
    name: `${prefix}nodejs_heap_size_used_bytes`,
    help: "Process heap size used from Node.js in bytes.",
  });
  const external = new Gauge({
    name: `${prefix}nodejs_external_memory_bytes`,
    help: "Node.js external memory size in bytes.",
  });
  registry.registerMetric(
    new Gauge({
      name: `${prefix}nodejs_heap_size_total_bytes`,
      help: "Process heap size from Node.js in bytes.",
      collect() {
        const usage = process.memoryUsage();
        this.set(usage.heapTotal);
        used.set(usage.heapUsed);
        external.set(usage.external);
      },
    }),
  );
  registry.registerMetric(used);
  registry.registerMetric(external);
}

/**
 * Registers the process and runtime metrics in `registry`, with names
 * starting with `prefix`, in the order prom-client 15.1.3 renders them.
 * prom-client's other default metrics (event loop delay percentiles, heap
 * spaces, active handles, requests and resources, GC durations and version
 * info) are not included.
 */
export function registerProcessMetrics(registry: Registry, prefix: string): void {
  registerCpuMetrics(registry, prefix);

  // Rounded to seconds, as in prom-client 15.1.3.
  const startTimeSeconds = Math.round(Date.now() / 1000 - process.uptime());
  registry.registerMetric(
    new Gauge({
      name: `${prefix}process_start_time_seconds`,
      help: "Start time of the process since unix epoch in seconds.",
      collect() {
        this.set(startTimeSeconds);
      },
    }),
  );

  registerMemoryMetrics(registry, prefix);
  registerFileDescriptorMetrics(registry, prefix);

  // The delay of a setImmediate callback scheduled at the scrape, as in
  // prom-client 15.1.3. prom-client renders before the callback runs, so it
  // shows the previous scrape's delay, while this collect() waits for it.
  registry.registerMetric(
    new Gauge({
      name: `${prefix}nodejs_eventloop_lag_seconds`,
      help: "Lag of event loop in seconds.",
      async collect() {
        const start = process.hrtime.bigint();
        await nextImmediate();
        this.set(Number(process.hrtime.bigint() - start) / 1e9);
      },
    }),
  );

  registerHeapMetrics(registry, prefix);
}
