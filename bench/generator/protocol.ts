// Messages between the orchestrator (bench/run.ts) and a generator process (generator/main.ts)
// over Bun's IPC channel. The orchestrator drives a workload one step at a time and measures
// the servers' CPU around each step; the generator answers each step and reports progress.

import type { TargetAccess } from "../targets/types.ts";

export type WorkloadName = "direct" | "group" | "connections" | "resume";

/** "init" creates the workload (params: InitParams); every other step is the workload's own. */
export interface StepRequest {
  id: number;
  step: string;
  params: unknown;
}

export interface InitParams {
  workload: WorkloadName;
  access: TargetAccess;
}

export interface Counters {
  sent: number;
  delivered: number;
}

export type GeneratorMessage =
  | { id: number; ok: true; result: unknown }
  | { id: number; ok: false; error: string }
  | { progress: Counters };

/** A workload is a set of named steps, each run to completion before the next is asked for. */
export interface Workload {
  steps: Record<string, (params: never) => Promise<unknown>>;
}
