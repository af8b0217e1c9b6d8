// Scenario "resume" (reconnect storm), msgr only (and msgr@REV): the peers keep no per-device backlog to
// resume from. M devices each miss K messages while offline, then all reconnect at once with
// their saved cursors; the figure is the time until every one of them is caught up.

import type { PreloadParams, ResumeSetup, StormParams } from "../generator/workloads/resume.ts";
import type { HistogramData } from "../lib/histogram.ts";
import { medianOf } from "../lib/median.ts";
import { untilQuiet } from "../lib/quiet.ts";
import { REVISION_PREFIX } from "../targets/revision.ts";
import type { Target } from "../targets/types.ts";
import { eachTarget, measured, stageLabel, withGenerators, withTarget, type ScenarioContext } from "./context.ts";
import type { ResumeFigures, ResumeTarget, ScenarioResult } from "./types.ts";

interface StormOutcome {
  devices: number;
  caughtUp: number;
  incomplete: number;
  timedOut: boolean;
  failed: number;
  firstError?: string;
  allCaughtUpMs: number;
  replayed: number;
  perDevice: HistogramData;
}

export async function runResume(ctx: ScenarioContext): Promise<ScenarioResult> {
  const { profile } = ctx.args;
  const p = profile.resume;
  // msgr, and msgr as of another revision (targets/revision.ts) when one was asked for.
  const resumes = (t: Target) => t.name === "msgr" || t.name.startsWith(REVISION_PREFIX);
  const msgr = ctx.targets.filter(resumes);
  const { measuredTargets, results, skipped } = await eachTarget(ctx, msgr, (target, round) => {
    const label = stageLabel(ctx, "resume", target.name, round);
    return withTarget(ctx, target, 1, profile.heartbeatMs, (running) =>
      withGenerators(ctx, 1, { workload: "resume", access: running.access }, async ([gen]): Promise<ResumeFigures> => {
        const g = gen!;
        // Two cohorts of p.devices each: the first storm (the server's first after its start) warms
        // up what a resume runs, as the connections scenario's warm-up does for connects, and the
        // second is measured. The first is reported beside it: what a fresh process pays.
        ctx.progress.stage(label(`setup ${2 * p.devices} devices`));
        await g.call("setup", { devices: 2 * p.devices, bodyBytes: profile.bodyBytes, connectConcurrency: profile.connectConcurrency } satisfies ResumeSetup, 300_000);
        ctx.progress.stage(label(`${p.missed} messages each while offline`));
        // Sending the backlog is measured too: every message goes to a recipient with no device
        // online, the path that asks the push notifier (none of these users has a subscription).
        const preload = await measured(running.pids, [g], () => g.call<{ messages: number }>("preload", { missed: p.missed, window: 8 } satisfies PreloadParams, 600_000));
        const storm = async (first: number) => {
          ctx.progress.stage(label("until the server is quiet"));
          const settled = await untilQuiet(running.pids);
          ctx.progress.stage(label(first === 0 ? "first reconnect storm (warm-up)" : "reconnect storm"));
          const m = await measured(running.pids, [g], () =>
            g.call<StormOutcome>("storm", { first, count: p.devices, concurrency: p.devices, timeoutMs: p.timeoutMs } satisfies StormParams, p.timeoutMs + 60_000),
          );
          return { ...m, settled };
        };
        const cold = (await storm(0)).value;
        const { value: s, server, generator, otherCores, settled } = await storm(p.devices);
        await g.call("teardown", {}, 60_000);
        return {
          devices: s.devices,
          missed: p.missed,
          caughtUp: s.caughtUp,
          incomplete: s.incomplete,
          timedOut: s.timedOut,
          failed: s.failed,
          ...(s.firstError ? { firstError: s.firstError } : {}),
          allCaughtUpMs: s.allCaughtUpMs,
          perDevice: s.perDevice.summary,
          replayed: s.replayed,
          replayRate: (s.replayed * 1000) / s.allCaughtUpMs,
          serverCpuPer1k: s.replayed > 0 ? (server.totalMs * 1000) / s.replayed : Number.NaN,
          cold: { allCaughtUpMs: cold.allCaughtUpMs, incomplete: cold.incomplete, failed: cold.failed, timedOut: cold.timedOut },
          offlineSendCpuPer1k: (preload.server.totalMs * 1000) / preload.value.messages,
          settled,
          generatorCores: generator.maxCoreShare,
          otherCores,
        };
      }),
    );
  });
  const targets: ResumeTarget[] = measuredTargets.map((t) => {
    const rounds = results.get(t.name)!;
    return { target: t.name, rounds, figures: medianOf(rounds) };
  });
  return {
    ...ctx.meta,
    scenario: "resume",
    params: { devices: p.devices, missedEach: p.missed, bodyBytes: profile.bodyBytes },
    skipped: [...skipped, ...ctx.targets.filter((t) => !resumes(t)).map((t) => ({ target: t.name, reason: "keeps no per-device backlog to resume from" }))],
    targets,
  };
}
