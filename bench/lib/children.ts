// Every process the bench starts goes through here, so that all of them are killed when the
// bench ends however it ends: normally, by an error, or by SIGINT/SIGTERM.

import type { Subprocess } from "bun";

const live = new Set<Subprocess>();

type SpawnOptions = Parameters<typeof Bun.spawn>[1];

/** Starts a process and registers it for cleanup. */
export function spawnChild(cmd: string[], opts: SpawnOptions): Subprocess {
  const proc = Bun.spawn(cmd, opts);
  live.add(proc);
  void proc.exited.then(() => live.delete(proc));
  return proc;
}

/** SIGTERM, then SIGKILL if the process is still there after `graceMs`. */
export async function stopChild(proc: Subprocess, graceMs = 5_000): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  proc.kill("SIGTERM");
  const timer = setTimeout(() => proc.kill("SIGKILL"), graceMs);
  await proc.exited;
  clearTimeout(timer);
}

function killAllNow(): void {
  for (const proc of live) proc.kill("SIGKILL");
  live.clear();
}

/**
 * Kills every registered child on exit and on SIGINT/SIGTERM, then runs `cleanup` (synchronous:
 * it also runs from the `exit` event, where nothing asynchronous completes).
 */
export function killChildrenOnExit(cleanup: () => void): void {
  let done = false;
  const finish = () => {
    if (done) return;
    done = true;
    killAllNow();
    cleanup();
  };
  process.on("exit", finish);
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.on(signal, () => {
      process.stderr.write(`\nbench: ${signal}, stopping every process it started\n`);
      finish();
      process.exit(130);
    });
  }
}
