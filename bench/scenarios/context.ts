// What every scenario runs with, and the helpers that keep each measurement honest: a target is
// started fresh for each measurement and always stopped, generators always stopped, and CPU is
// read from /proc around exactly the step being measured.

import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { BenchArgs } from "../lib/cli-args.ts";
import { GeneratorProcess } from "../lib/generator-process.ts";
import type { Pinning } from "../lib/pinning.ts";
import { CpuMeter, cpuMs, machineBusyMs, type CpuWindow } from "../lib/proc-stats.ts";
import type { ProgressLine } from "../lib/progress.ts";
import type { InitParams } from "../generator/protocol.ts";
import type { RunningTarget, Target } from "../targets/types.ts";
import type { ResultMeta } from "./types.ts";

export interface ScenarioContext {
  args: BenchArgs;
  pinning: Pinning;
  progress: ProgressLine;
  /** Targets selected and available on this machine, msgr first. */
  targets: Target[];
  /** Where targets keep their data; removed at exit. */
  tmpRoot: string;
  /** Recorded with every result of this run. */
  meta: ResultMeta;
  /** Targets left out of this run and why (not installed, not selected). */
  skipped: { target: string; reason: string }[];
}

/** Starts `target`, runs `fn`, and stops the target and removes its data whatever happens. */
export async function withTarget<T>(ctx: ScenarioContext, target: Target, instances: number, heartbeatMs: number, fn: (t: RunningTarget) => Promise<T>): Promise<T> {
  const workDir = mkdtempSync(join(ctx.tmpRoot, `${target.name}-`));
  let running: RunningTarget | undefined;
  try {
    running = await target.start({ instances, heartbeatMs, workDir, pin: ctx.pinning.server });
    return await fn(running);
  } finally {
    await running?.stop();
    rmSync(workDir, { recursive: true, force: true });
  }
}

/** Starts `count` generator processes with the same workload, runs `fn`, and stops them. */
export async function withGenerators<T>(ctx: ScenarioContext, count: number, init: InitParams, fn: (gens: GeneratorProcess[]) => Promise<T>): Promise<T> {
  const gens: GeneratorProcess[] = [];
  const report = () => {
    let sent = 0;
    let delivered = 0;
    for (const g of gens) {
      sent += g.counters.sent;
      delivered += g.counters.delivered;
    }
    ctx.progress.update(sent, delivered);
  };
  try {
    for (let i = 0; i < count; i++) gens.push(await GeneratorProcess.start(ctx.pinning.generator, init, report));
    return await fn(gens);
  } finally {
    await Promise.all(gens.map((g) => g.stop()));
  }
}

export interface Measured<T> {
  value: T;
  server: CpuWindow;
  generator: CpuWindow;
  /** Cores that processes other than the bench's kept busy meanwhile (a shared machine's noise). */
  otherCores: number;
}

/** Runs `fn` and reads the CPU the servers, the generators and everything else used meanwhile. */
export async function measured<T>(serverPids: number[], gens: GeneratorProcess[], fn: () => Promise<T>): Promise<Measured<T>> {
  const machineBefore = machineBusyMs();
  const selfBefore = cpuMs(process.pid);
  const server = new CpuMeter(serverPids);
  const generator = new CpuMeter(gens.map((g) => g.pid));
  const value = await fn();
  const s = server.read();
  const g = generator.read();
  const others = machineBusyMs() - machineBefore - s.totalMs - g.totalMs - (cpuMs(process.pid) - selfBefore);
  return { value, server: s, generator: g, otherCores: s.wallMs > 0 ? Math.max(0, others) / s.wallMs : 0 };
}

/** Other tenants above this many cores during a measurement make its figures suspect. */
export const NOISY_MACHINE = 0.25;

/**
 * Runs `fn` for every target, `rounds` times, interleaved (round 1 of every target, then round
 * 2 ...) so that slow drift on a shared machine hits all targets alike. A target that fails (it
 * does not start, or dies) fails the whole run with its reason: a comparison with a peer
 * silently missing would read as a different result.
 */
export async function eachTarget<R>(ctx: ScenarioContext, targets: Target[], fn: (target: Target, round: number) => Promise<R>) {
  const results = new Map<string, R[]>();
  for (let round = 1; round <= ctx.args.profile.rounds; round++) {
    for (const target of targets) {
      try {
        results.set(target.name, [...(results.get(target.name) ?? []), await fn(target, round)]);
      } catch (e) {
        throw new Error(`${target.name} failed in round ${round}: ${(e as Error).message}`);
      }
    }
  }
  return { measuredTargets: targets.filter((t) => results.has(t.name)), results, skipped: ctx.skipped };
}

/** A progress label: scenario · target · stage, and the round when there are several. */
export function stageLabel(ctx: ScenarioContext, scenario: string, target: string, round: number) {
  return (what: string) => `${scenario} · ${target} · ${what}${ctx.args.profile.rounds > 1 ? ` · round ${round}` : ""}`;
}

/** A generator above this share of a core may be what limits a result. */
export const GENERATOR_SATURATED = 0.9;
