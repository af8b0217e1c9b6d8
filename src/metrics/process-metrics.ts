// Process metrics that are right under Bun. prom-client's collectDefaultMetrics reads Node's
// internals and reports nonsense here: Node's version (v24) for the runtime, VmData (tens of GB of
// address space JSC reserves) as the heap and virtual memory, zero active handles and requests,
// and no GC timings. These are computed from what Bun reports correctly instead: process.cpuUsage
// and memoryUsage (JSC's heap), /proc for file descriptors, and perf_hooks' event loop monitor.

import { readdirSync, readFileSync } from "node:fs";
import { monitorEventLoopDelay, type IntervalHistogram } from "node:perf_hooks";
import { Counter, Gauge, type Registry } from "prom-client";

/** When this process started, in seconds since the epoch. */
const START_TIME_SECONDS = Date.now() / 1000 - process.uptime();

/** One event loop monitor per process, whatever the number of registries (tests run several servers). */
let loopDelay: IntervalHistogram | undefined;

function eventLoopMonitor(): IntervalHistogram {
  if (!loopDelay) {
    loopDelay = monitorEventLoopDelay({ resolution: 10 });
    loopDelay.enable();
  }
  return loopDelay;
}

/** Registers the process metrics on `registry`, each name starting with `prefix` (e.g. "msgr_"). */
export function registerProcessMetrics(registry: Registry, prefix: string): void {
  const registers = [registry];
  const cpu = (name: string, help: string, read: (u: NodeJS.CpuUsage) => number) =>
    new Counter({
      name: `${prefix}${name}`,
      help,
      registers,
      collect() {
        // Absolute, from the process's start: set the counter to it.
        this.reset();
        this.inc(read(process.cpuUsage()) / 1e6);
      },
    });
  cpu("process_cpu_user_seconds_total", "User CPU time of the process, in seconds", (u) => u.user);
  cpu("process_cpu_system_seconds_total", "System CPU time of the process, in seconds", (u) => u.system);
  cpu("process_cpu_seconds_total", "User and system CPU time of the process, in seconds", (u) => u.user + u.system);

  new Gauge({ name: `${prefix}process_start_time_seconds`, help: "Start time of the process since the Unix epoch, in seconds", registers }).set(START_TIME_SECONDS);
  new Gauge({
    name: `${prefix}process_resident_memory_bytes`,
    help: "Resident set size of the process, in bytes",
    registers,
    collect() {
      this.set(process.memoryUsage.rss());
    },
  });
  const memory = (name: string, help: string, read: (m: NodeJS.MemoryUsage) => number) =>
    new Gauge({
      name: `${prefix}${name}`,
      help,
      registers,
      collect() {
        this.set(read(process.memoryUsage()));
      },
    });
  memory("heap_used_bytes", "JavaScript heap in use (JavaScriptCore), in bytes", (m) => m.heapUsed);
  memory("heap_size_bytes", "JavaScript heap size (JavaScriptCore), in bytes", (m) => m.heapTotal);
  memory("external_memory_bytes", "Memory held outside the JavaScript heap by its objects (buffers), in bytes", (m) => m.external);

  if (readable("/proc/self/fd")) {
    new Gauge({
      name: `${prefix}process_open_fds`,
      help: "Open file descriptors (sockets included)",
      registers,
      collect() {
        this.set(readdirSync("/proc/self/fd").length);
      },
    });
    const max = maxFds();
    if (max !== undefined) new Gauge({ name: `${prefix}process_max_fds`, help: "Limit on open file descriptors (LimitNOFILE)", registers }).set(max);
  }

  const monitor = eventLoopMonitor();
  new Gauge({
    name: `${prefix}event_loop_delay_seconds`,
    help: "Event loop delay since the previous scrape: median (0.5), 99th percentile (0.99) and maximum (1)",
    labelNames: ["quantile"],
    registers,
    collect() {
      // Nanoseconds; a histogram with no samples yet reports 0.
      const has = monitor.count > 0;
      this.set({ quantile: "0.5" }, has ? monitor.percentile(50) / 1e9 : 0);
      this.set({ quantile: "0.99" }, has ? monitor.percentile(99) / 1e9 : 0);
      this.set({ quantile: "1" }, has ? monitor.max / 1e9 : 0);
      monitor.reset();
    },
  });

  new Gauge({ name: `${prefix}runtime_info`, help: "The JavaScript runtime and its version", labelNames: ["runtime", "version"], registers }).set(
    { runtime: "bun", version: Bun.version },
    1,
  );
}

function readable(path: string): boolean {
  try {
    readdirSync(path);
    return true;
  } catch {
    return false;
  }
}

function maxFds(): number | undefined {
  try {
    const m = /^Max open files\s+(\d+)/m.exec(readFileSync("/proc/self/limits", "utf8"));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}
