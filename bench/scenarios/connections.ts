// Scenario "connections": C idle authenticated connections with heartbeats, spread over several
// server processes (one per 127.0.0.x address) and several generator processes, because one
// process may hold at most 20,000 open files. Figures: connect rate, server RSS per connection,
// server CPU while idle, the generators' own cost (their RSS growth likewise).
//
// A warm-up batch connects first and stays open; the figures are taken over the connections
// opened after it. The first connections to a fresh process pay once for what every later one
// reuses (JIT-compiled code, its later tiers, caches, the allocator's first pages): over 13 MiB
// for msgr's first thousand, which over 1,000 measured connections per process would read as
// 13 KiB each. Per connection means the marginal cost; the warm-up's own growth is reported
// beside it. The warm-up is a count per server, not a share: how much a process compiles
// depends on how often its code ran, not on the scale of the run.

import type { ConnectParams } from "../generator/workloads/connections.ts";
import type { HistogramData } from "../lib/histogram.ts";
import { LatencyHistogram } from "../lib/histogram.ts";
import { medianOf } from "../lib/median.ts";
import { totalRssKiB } from "../lib/proc-stats.ts";
import { eachTarget, measured, stageLabel, withGenerators, withTarget, type ScenarioContext } from "./context.ts";
import type { ConnectionsFigures, ConnectionsTarget, ScenarioResult } from "./types.ts";

/**
 * Lets a fresh server finish starting (JIT, allocator), and a server that tidies up after a burst
 * (msgr's idle collector, src/idle-collector.ts, within 2 s of the burst's end) finish the
 * warm-up's, before its baseline memory is read: otherwise the warm-up's garbage, collected
 * during the measured hold, would make the measured connections look cheaper than they are.
 */
const SETTLE_MS = 3_000;
/** Warm-up connections per server process. */
const WARM_UP_PER_SERVER = 1_000;

interface ConnectOutcome {
  connected: number;
  failed: number;
  firstError?: string;
  elapsedMs: number;
  latency: HistogramData;
}

export async function runConnections(ctx: ScenarioContext): Promise<ScenarioResult> {
  const { profile } = ctx.args;
  const p = profile.connections;
  const processes = Math.max(1, Math.ceil(p.connections / p.perProcess));
  const { measuredTargets, results, skipped } = await eachTarget(ctx, ctx.targets, (target, round) => {
    const label = stageLabel(ctx, "connections", target.name, round);
    return withTarget(ctx, target, processes, p.heartbeatMs, (running) =>
      withGenerators(ctx, processes, { workload: "connections", access: running.access }, async (gens) => {
        await Bun.sleep(SETTLE_MS);
        const startKiB = totalRssKiB(running.pids);
        // Users c<connections>… : the measured batch below still connects users the server never saw.
        const warmShare = Math.ceil((WARM_UP_PER_SERVER * processes) / gens.length);
        ctx.progress.stage(label(`warm up ${(warmShare * gens.length).toLocaleString("en-US")}`));
        const warm = await Promise.all(
          gens.map((g, k) => g.call<ConnectOutcome>("connect", { from: p.connections + k * warmShare, count: warmShare, concurrency: profile.connectConcurrency } satisfies ConnectParams, 60_000 + warmShare * 20)),
        );
        await Bun.sleep(SETTLE_MS);
        const baselineKiB = totalRssKiB(running.pids);
        const generatorBaselineKiB = totalRssKiB(gens.map((g) => g.pid));
        ctx.progress.stage(label(`connect ${p.connections.toLocaleString("en-US")}`));
        const share = Math.ceil(p.connections / gens.length);
        const connectTimeout = 60_000 + share * 20;
        const connect = await measured(running.pids, gens, () =>
          Promise.all(
            gens.map((g, k) => {
              const from = k * share;
              const params: ConnectParams = { from, count: Math.max(0, Math.min(share, p.connections - from)), concurrency: profile.connectConcurrency };
              return g.call<ConnectOutcome>("connect", params, connectTimeout);
            }),
          ),
        );
        ctx.progress.stage(label(`hold ${p.holdMs / 1000}s`));
        const hold = await measured(running.pids, gens, () => Bun.sleep(p.holdMs));
        const serverKiB = totalRssKiB(running.pids);
        const generatorKiB = totalRssKiB(gens.map((g) => g.pid));
        await Promise.all(gens.map((g) => g.call("close", {}, 60_000)));
        const outcomes = connect.value;
        const connected = outcomes.reduce((a, o) => a + o.connected, 0);
        const f: ConnectionsFigures = {
          requested: p.connections,
          connected,
          failed: outcomes.reduce((a, o) => a + o.failed, 0),
          instances: processes,
          generators: gens.length,
          connectRate: connected / (Math.max(...outcomes.map((o) => o.elapsedMs)) / 1000),
          connectLatency: LatencyHistogram.merge(outcomes.map((o) => o.latency)).summary(),
          serverCpuPer1kConnects: connected > 0 ? (connect.server.totalMs * 1000) / connected : Number.NaN,
          serverRssPerConn: connected > 0 ? ((serverKiB - baselineKiB) * 1024) / connected : Number.NaN,
          serverRssBaselineKiB: baselineKiB,
          warmUpConnected: warm.reduce((a, o) => a + o.connected, 0),
          warmUpRssKiB: baselineKiB - startKiB,
          serverRssKiB: serverKiB,
          idleServerCores: hold.server.totalMs / hold.server.wallMs,
          generatorRssPerConn: connected > 0 ? ((generatorKiB - generatorBaselineKiB) * 1024) / connected : Number.NaN,
          generatorCores: connect.generator.maxCoreShare,
          otherCores: Math.max(connect.otherCores, hold.otherCores),
        };
        const firstError = outcomes.find((o) => o.firstError)?.firstError;
        if (firstError) f.firstError = firstError;
        return f;
      }),
    );
  });
  const targets: ConnectionsTarget[] = measuredTargets.map((t) => {
    const rounds = results.get(t.name)!;
    return { target: t.name, rounds, figures: medianOf(rounds) };
  });
  return {
    ...ctx.meta,
    scenario: "connections",
    params: { connections: p.connections, serverProcesses: processes, generatorProcesses: processes, heartbeatMs: p.heartbeatMs, holdMs: p.holdMs },
    skipped,
    targets,
  };
}
