// Keeps servers and load generators off each other's cores (`taskset`), so a busy generator
// cannot steal the server's CPU and the server's CPU time is its own. Without taskset, or on a
// single core, everything runs unpinned and the report says so.

import { availableParallelism } from "node:os";

export interface Pinning {
  /** Command prefix for server processes ([] when unpinned). */
  server: string[];
  /** Command prefix for generator processes. */
  generator: string[];
  /** One sentence for the report. */
  note: string;
}

export function choosePinning(enabled: boolean): Pinning {
  const cores = availableParallelism();
  const taskset = Bun.which("taskset");
  if (!enabled) return { server: [], generator: [], note: "not pinned (--no-pin)" };
  if (!taskset) return { server: [], generator: [], note: "not pinned: taskset is not installed" };
  if (cores < 2) return { server: [], generator: [], note: "not pinned: one core only, servers and generators share it" };
  const genCores = cores === 2 ? "1" : `1-${cores - 1}`;
  return {
    server: [taskset, "-c", "0"],
    generator: [taskset, "-c", genCores],
    note: `servers pinned to CPU 0, generators to CPU ${genCores} (taskset)`,
  };
}
