// The machine a run happened on, recorded with every result: figures from different machines
// are not comparable, and shared machines are noisy, so the report names what it ran on.

import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { availableParallelism, totalmem } from "node:os";

export interface MachineInfo {
  cores: number;
  cpuModel: string;
  memoryGiB: number;
  bun: string;
  node: string;
  kernel: string;
  openFilesLimit: number;
}

export function describeMachine(): MachineInfo {
  return {
    cores: availableParallelism(),
    cpuModel: /^model name\s*:\s*(.+)$/m.exec(safeRead("/proc/cpuinfo"))?.[1]?.trim() ?? "unknown",
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    bun: Bun.version,
    node: commandOutput("node", ["--version"]),
    kernel: safeRead("/proc/sys/kernel/osrelease").trim() || "unknown",
    openFilesLimit: Number(commandOutput("sh", ["-c", "ulimit -n"])) || 0,
  };
}

function safeRead(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

function commandOutput(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: "utf8" }).trim();
  } catch {
    return "not installed";
  }
}
