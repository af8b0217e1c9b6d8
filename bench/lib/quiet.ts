// Waits for a server to finish what a previous step left it doing. A Bun server compiles the
// functions a step made hot on a JIT thread of its own after the step ends (the bench pins the
// whole process, that thread included, to one core), and a step measured right after would pay
// for it: in the resume scenario, the reconnect storm that follows the backlog's sends spent
// 80-250 ms of its server CPU on that thread, and how much depended on how fast the sends had
// been, not on the storm. /proc has no notification of a process going idle, so this samples it.

import { cpuMs } from "./proc-stats.ts";

/** A window in which the processes used at most this share of one core counts as quiet. */
const QUIET_SHARE = 0.1;
const WINDOW_MS = 200;

/** Resolves once `pids` together used at most QUIET_SHARE of a core over one window; false if that took longer than `timeoutMs`. */
export async function untilQuiet(pids: number[], timeoutMs = 10_000): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  const total = () => pids.reduce((sum, pid) => sum + cpuMs(pid), 0);
  while (performance.now() < deadline) {
    const before = total();
    await Bun.sleep(WINDOW_MS);
    if (total() - before <= WINDOW_MS * QUIET_SHARE) return true;
  }
  return false;
}
