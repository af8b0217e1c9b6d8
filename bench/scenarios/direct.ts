// Scenario "direct" (1:1 chat), run against every target in turn, the same generator code for
// all: closed loop first to find saturation, then open loop at 70% of it (or --rate), latency
// from the intended send time. --closed runs the closed loop only.

import type { TrafficResult } from "../generator/traffic.ts";
import type { DirectSetup, LoopParams } from "../generator/workloads/direct.ts";
import { LatencyHistogram, type HistogramData } from "../lib/histogram.ts";
import { medianOf } from "../lib/median.ts";
import { eachTarget, measured, stageLabel, withGenerators, withTarget, type ScenarioContext } from "./context.ts";
import { loopFigures, type LoopFigures } from "./loop-summary.ts";
import type { DirectTarget, ScenarioResult } from "./types.ts";

const SETUP_TIMEOUT_MS = 120_000;
const STEP_SLACK_MS = 60_000;

interface Round {
  closed: LoopFigures;
  open?: LoopFigures;
  openHistogram?: HistogramData;
}

export async function runDirect(ctx: ScenarioContext): Promise<ScenarioResult> {
  const { profile, closedOnly, fixedRate } = ctx.args;
  const p = profile.direct;
  const { measuredTargets, results, skipped } = await eachTarget(ctx, ctx.targets, (target, round) => {
    const label = stageLabel(ctx, "direct", target.name, round);
    return withTarget(ctx, target, 1, profile.heartbeatMs, (running) =>
      withGenerators(ctx, 1, { workload: "direct", access: running.access }, async ([gen]): Promise<Round> => {
        const g = gen!;
        ctx.progress.stage(label("setup"));
        await g.call("setup", { users: p.users, bodyBytes: profile.bodyBytes, connectConcurrency: profile.connectConcurrency } satisfies DirectSetup, SETUP_TIMEOUT_MS);
        const loop = (params: LoopParams) => g.call<TrafficResult>(params.rate ? "open" : "closed", params, params.durationMs + params.drainMs + STEP_SLACK_MS);
        ctx.progress.stage(label("warm-up"));
        await loop({ durationMs: p.warmupMs, window: p.window, drainMs: p.drainMs });
        ctx.progress.stage(label("closed loop"));
        const closedRun = await measured(running.pids, [g], () => loop({ durationMs: p.durationMs, window: p.window, drainMs: p.drainMs }));
        const closed = loopFigures(closedRun);
        if (closedOnly) return { closed };
        const rate = fixedRate ?? Math.max(1, Math.round(closed.throughput * p.openFraction));
        ctx.progress.stage(label(`open loop ${rate}/s`));
        const openRun = await measured(running.pids, [g], () => loop({ durationMs: p.durationMs, rate, drainMs: p.drainMs }));
        return { closed, open: loopFigures(openRun, rate), openHistogram: openRun.value.deliver };
      }),
    );
  });
  const targets: DirectTarget[] = measuredTargets.map((t) => {
    const rounds = results.get(t.name)!;
    const out: DirectTarget = { target: t.name, perMessage: t.perMessage, rounds, closed: medianOf(rounds.map((r) => r.closed)) };
    const opens = rounds.flatMap((r) => (r.open ? [r.open] : []));
    if (opens.length > 0) {
      out.open = medianOf(opens);
      out.openCurve = LatencyHistogram.merge(rounds.flatMap((r) => (r.openHistogram ? [r.openHistogram] : []))).curve();
    }
    return out;
  });
  return {
    ...ctx.meta,
    scenario: "direct",
    params: {
      users: p.users,
      window: p.window,
      durationMs: p.durationMs,
      warmupMs: p.warmupMs,
      openLoop: closedOnly ? "off" : fixedRate ? `${fixedRate} messages/s` : `${Math.round(p.openFraction * 100)}% of each server's closed-loop throughput`,
      bodyBytes: profile.bodyBytes,
    },
    skipped,
    targets,
  };
}
