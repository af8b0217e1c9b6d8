// Scenario "group": groups of 256 members with several senders each, closed loop (each sender
// sends its next message once the last one reached every member), against every target.
// Figures: deliveries per second, send-to-deliver latency, server CPU per 1,000 deliveries.

import type { TrafficResult } from "../generator/traffic.ts";
import type { GroupSetup } from "../generator/workloads/group.ts";
import { LatencyHistogram, type HistogramData } from "../lib/histogram.ts";
import { medianOf } from "../lib/median.ts";
import { eachTarget, measured, stageLabel, withGenerators, withTarget, type ScenarioContext } from "./context.ts";
import { loopFigures, type LoopFigures } from "./loop-summary.ts";
import type { GroupTarget, ScenarioResult } from "./types.ts";

const SETUP_TIMEOUT_MS = 300_000;
const STEP_SLACK_MS = 60_000;

export async function runGroup(ctx: ScenarioContext): Promise<ScenarioResult> {
  const { profile } = ctx.args;
  const p = profile.group;
  const { measuredTargets, results, skipped } = await eachTarget(ctx, ctx.targets, (target, round) => {
    const label = stageLabel(ctx, "group", target.name, round);
    return withTarget(ctx, target, 1, profile.heartbeatMs, (running) =>
      withGenerators(ctx, 1, { workload: "group", access: running.access }, async ([gen]): Promise<{ closed: LoopFigures; histogram: HistogramData }> => {
        const g = gen!;
        ctx.progress.stage(label("setup"));
        const setup: GroupSetup = { groups: p.groups, members: p.members, senders: p.senders, bodyBytes: profile.bodyBytes, connectConcurrency: profile.connectConcurrency };
        await g.call("setup", setup, SETUP_TIMEOUT_MS);
        const loop = (durationMs: number) => g.call<TrafficResult>("closed", { durationMs, window: p.window, drainMs: p.drainMs }, durationMs + p.drainMs + STEP_SLACK_MS);
        ctx.progress.stage(label("warm-up"));
        await loop(p.warmupMs);
        ctx.progress.stage(label("closed loop"));
        const run = await measured(running.pids, [g], () => loop(p.durationMs));
        return { closed: loopFigures(run), histogram: run.value.deliver };
      }),
    );
  });
  const targets: GroupTarget[] = measuredTargets.map((t) => {
    const rounds = results.get(t.name)!;
    return { target: t.name, rounds, closed: medianOf(rounds.map((r) => r.closed)), curve: LatencyHistogram.merge(rounds.map((r) => r.histogram)).curve() };
  });
  return {
    ...ctx.meta,
    scenario: "group",
    params: { groups: p.groups, members: p.members, sendersPerGroup: p.senders, window: p.window, durationMs: p.durationMs, bodyBytes: profile.bodyBytes },
    skipped,
    targets,
  };
}
