// msgr against another revision of itself (the target msgr@REV: targets/revision.ts), round by
// round. Within a round the two builds ran seconds apart; across rounds this machine's speed
// drifts by more than most changes are worth, so medians of each build's rounds compare two
// different machines. Each round gives one ratio, this tree's figure over the other's; reported
// are their median and how many rounds went each way, with the exact two-sided sign test: the
// chance of a split at least as lopsided were neither build cheaper. Only costs are compared
// (lower is better), so a ratio below 1 and "lower in most rounds" mean this tree costs less.

import { median } from "../lib/median.ts";
import type { ScenarioResult } from "../scenarios/types.ts";
import { REVISION_PREFIX } from "../targets/revision.ts";
import { table } from "./format.ts";

export interface PairedComparison {
  scenario: string;
  figure: string;
  /** The other build's target name (msgr@<commit>). */
  base: string;
  /** This tree's figure over the other's, per round in which both have one. */
  ratios: number[];
  medianRatio: number;
  /** Rounds in which this tree's figure was the lower (ties count for neither). */
  lower: number;
  higher: number;
  /** Two-sided exact sign test over the rounds that were not ties. */
  p: number;
}

/** P(a split of `lower` against `higher` or more lopsided) when each way is equally likely. */
export function signTestP(lower: number, higher: number): number {
  const n = lower + higher;
  if (n === 0) return 1;
  const k = Math.min(lower, higher);
  // Binomial terms C(n, i) / 2^n in logs: 2^n overflows past a thousand rounds.
  let logTerm = -n * Math.LN2;
  let tail = 0;
  for (let i = 0; i <= k; i++) {
    tail += Math.exp(logTerm);
    logTerm += Math.log((n - i) / (i + 1));
  }
  return Math.min(1, 2 * tail);
}

/** Round-by-round comparison of two builds' figures (a round missing either is left out). */
export function comparePaired(scenario: string, figure: string, base: string, mine: number[], theirs: number[]): PairedComparison {
  const ratios: number[] = [];
  for (let i = 0; i < Math.min(mine.length, theirs.length); i++) {
    const r = mine[i]! / theirs[i]!;
    if (Number.isFinite(r)) ratios.push(r);
  }
  const lower = ratios.filter((r) => r < 1).length;
  const higher = ratios.filter((r) => r > 1).length;
  return { scenario, figure, base, ratios, medianRatio: median(ratios), lower, higher, p: signTestP(lower, higher) };
}

/** One cost per round of each target, by target name. */
interface Series {
  figure: string;
  byTarget: Map<string, number[]>;
}

function series<R>(figure: string, targets: { target: string; rounds: R[] }[], of: (round: R) => number): Series {
  return { figure, byTarget: new Map(targets.map((t) => [t.target, t.rounds.map(of)])) };
}

/** The costs a scenario measures per round of each target. */
function costs(r: ScenarioResult): Series[] {
  switch (r.scenario) {
    case "direct":
      // The open loop's figures are NaN in a run without one, and such rounds are left out.
      return [
        series("closed-loop server CPU ms per 1k delivered", r.targets, (x) => x.closed.serverCpuPer1k),
        series("open-loop server CPU ms per 1k delivered", r.targets, (x) => x.open?.serverCpuPer1k ?? Number.NaN),
        series("open-loop send-to-deliver p99 ms", r.targets, (x) => x.open?.deliver.p99 ?? Number.NaN),
      ];
    case "group":
      return [series("server CPU ms per 1k deliveries", r.targets, (x) => x.closed.serverCpuPer1k)];
    case "connections":
      return [series("server RSS bytes per idle connection", r.targets, (x) => x.serverRssPerConn), series("server CPU ms per 1k connects", r.targets, (x) => x.serverCpuPer1kConnects)];
    case "resume":
      return [
        series("ms until every device caught up", r.targets, (x) => x.allCaughtUpMs),
        series("server CPU ms per 1k sent to offline devices", r.targets, (x) => x.offlineSendCpuPer1k),
      ];
    case "durable":
      return [];
  }
}

/** msgr against every msgr@REV target of the run, figure by figure. */
export function pairedComparisons(results: ScenarioResult[]): PairedComparison[] {
  const out: PairedComparison[] = [];
  for (const r of results) {
    for (const { figure, byTarget } of costs(r)) {
      const mine = byTarget.get("msgr");
      if (!mine) continue;
      for (const [base, theirs] of byTarget) {
        if (!base.startsWith(REVISION_PREFIX)) continue;
        const c = comparePaired(r.scenario, figure, base, mine, theirs);
        if (c.ratios.length > 0) out.push(c);
      }
    }
  }
  return out;
}

/** The report's section, or null when the run measured no other revision. */
export function pairedSection(results: ScenarioResult[]): string | null {
  const rows = pairedComparisons(results);
  if (rows.length === 0) return null;
  return [
    "## msgr against another revision, round by round",
    "",
    "Each round's figure of this tree's msgr over the other build's (below 1: this tree costs less). Ratios within a round hold on a machine whose speed drifts between rounds; the sign test gives the chance of a split this lopsided were neither build cheaper.",
    "",
    table(
      ["scenario", "figure", "against", "median ratio", "rounds' ratios", "this tree lower in", "sign test p"],
      rows.map((c) => [
        c.scenario,
        c.figure,
        c.base,
        c.medianRatio.toFixed(3),
        `${Math.min(...c.ratios).toFixed(2)} to ${Math.max(...c.ratios).toFixed(2)}`,
        `${c.lower} of ${c.ratios.length}`,
        c.p.toFixed(3),
      ]),
      3,
    ),
  ].join("\n");
}
