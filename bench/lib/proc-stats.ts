// CPU time and resident memory of a process, read from /proc the way `top` reads them, so the
// cost of a server or a generator comes from the kernel's accounting, not from the process.

import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

/** Kernel clock ticks per second: the unit of utime and stime in /proc/<pid>/stat. */
export const CLK_TCK = readClockTicks();

function readClockTicks(): number {
  try {
    const n = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());
    if (Number.isInteger(n) && n > 0) return n;
  } catch {
    // getconf is missing: 100 is the value on every Linux configuration in use.
  }
  return 100;
}

/** utime + stime of all threads of a process, in milliseconds; NaN when it has exited. */
export function cpuMs(pid: number): number {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return Number.NaN;
  }
  // Field 2 (comm) may hold spaces and parentheses, so split after its closing parenthesis:
  // the rest starts at field 3, which puts utime (field 14) and stime (field 15) at 11 and 12.
  const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return ((Number(rest[11]) + Number(rest[12])) * 1000) / CLK_TCK;
}

/** Resident set size (VmRSS) in KiB; NaN when the process has exited. */
export function rssKiB(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** CPU used by a set of processes between two points in time. */
export interface CpuWindow {
  /** CPU milliseconds per process, in the order the pids were given. */
  perProcessMs: number[];
  totalMs: number;
  wallMs: number;
  /** Busiest process's share of one core over the window (1 = a full core). */
  maxCoreShare: number;
}

export class CpuMeter {
  private readonly startCpu: number[];
  private readonly startWall = performance.now();

  constructor(private readonly pids: number[]) {
    this.startCpu = pids.map(cpuMs);
  }

  read(): CpuWindow {
    const wallMs = performance.now() - this.startWall;
    const perProcessMs = this.pids.map((pid, i) => cpuMs(pid) - this.startCpu[i]!);
    const totalMs = perProcessMs.reduce((a, b) => a + b, 0);
    return { perProcessMs, totalMs, wallMs, maxCoreShare: wallMs > 0 ? Math.max(0, ...perProcessMs) / wallMs : 0 };
  }
}

/**
 * Busy time of all cores of the machine (user, nice, system, steal) from /proc/stat, in ms.
 * Minus what the bench's own processes used, it is the CPU other tenants of a shared machine
 * took during a measurement (steal included: a busy hypervisor counts too). irq and softirq are
 * left out: the kernel's processing of the bench's own loopback packets is counted there.
 */
export function machineBusyMs(): number {
  const cpu = readFileSync("/proc/stat", "utf8").split("\n", 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, , , , , steal = 0] = cpu;
  return ((user + nice + system + steal) * 1000) / CLK_TCK;
}

export function totalRssKiB(pids: number[]): number {
  return pids.reduce((sum, pid) => sum + rssKiB(pid), 0);
}
