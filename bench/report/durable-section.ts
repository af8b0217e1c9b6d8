// The report's section for the durable scenario: msgr's cluster write path against the ceilings
// of the engines under it, measured in the same run, and the issue's targets as ratios.

import type { DurableRound, ScenarioResult } from "../scenarios/types.ts";
import { ms, num, percent, rate, ratio, table } from "./format.ts";

type Durable = Extract<ScenarioResult, { scenario: "durable" }>;

/** The targets of the cluster write path (issue 12). */
export const DURABLE_TARGETS = {
  /** Acked appends/s over raw JetStream's one-message-per-fsync rate in the same run. */
  vsRawLog: 10,
  oneConversation: 10_000,
  openP50Ms: 5,
  openP99Ms: 50,
  /** Worker drain over the store's measured ceiling. */
  drainVsCeiling: 0.7,
} as const;

export interface DurableCheck {
  target: string;
  measured: string;
  met: boolean;
}

/** The median over rounds of a ratio taken within each round (both sides measured moments apart), and the rounds' ratios. */
function roundRatio(rounds: DurableRound[], of: (r: DurableRound) => number): { median: number; each: string } {
  const xs = rounds.map(of).sort((a, b) => a - b);
  const mid = xs.length >> 1;
  const median = xs.length % 2 ? xs[mid]! : (xs[mid - 1]! + xs[mid]!) / 2;
  return { median, each: rounds.map(of).map((x) => ratio(x)).join(", ") };
}

/** Each target against the run's figures: ratios are medians of the rounds' own ratios, the rest medians of the rounds. */
export function durableChecks(f: DurableRound, rounds: DurableRound[] = [f]): DurableCheck[] {
  const t = DURABLE_TARGETS;
  const raw = roundRatio(rounds, (r) => r.fill.rate / r.rawOne.rate);
  const ceiling = roundRatio(rounds, (r) => r.drain.rate / r.ceilingRate);
  const vsRaw = raw.median;
  const drainVsCeiling = ceiling.median;
  const perRound = (x: { each: string }) => (rounds.length > 1 ? ` (rounds: ${x.each})` : "");
  const keepsUp = f.drain.rate >= f.fill.rate;
  const storeIsLimit = f.ceilingRate < f.fill.rate;
  return [
    {
      target: `acked appends/s ≥ ${t.vsRawLog}× raw JetStream's one-message-per-fsync rate`,
      measured: `${rate(f.fill.rate)} vs ${rate(f.rawOne.rate)}/s: ${ratio(vsRaw)}${perRound(raw)}`,
      met: vsRaw >= t.vsRawLog,
    },
    {
      target: `one conversation ≥ ${num(t.oneConversation)} acked appends/s`,
      measured: `${rate(f.hot.oneWriter)}/s from one edge (${ratio(f.hot.oneWriter / t.oneConversation)} of target), ${rate(f.hot.twoWriters)}/s from two`,
      met: f.hot.oneWriter >= t.oneConversation && f.hot.twoWriters >= t.oneConversation,
    },
    {
      target: `append latency at ${percent(f.open.offeredRate / f.fill.rate)} of saturation: p50 ≤ ${t.openP50Ms} ms, p99 ≤ ${t.openP99Ms} ms`,
      measured: `p50 ${ms(f.open.append.p50)} ms, p99 ${ms(f.open.append.p99)} ms at ${rate(f.open.offeredRate)}/s`,
      met: f.open.append.p50 <= t.openP50Ms && f.open.append.p99 <= t.openP99Ms,
    },
    {
      target: `worker drain ≥ ${percent(t.drainVsCeiling)} of the store's ceiling`,
      measured: `${rate(f.drain.rate)} vs ${rate(f.ceilingRate)} msgs/s: ${percent(drainVsCeiling)}${perRound({ each: rounds.map((r) => percent(r.drain.rate / r.ceilingRate)).join(", ") })}`,
      met: drainVsCeiling >= t.drainVsCeiling,
    },
    {
      target: "worker drain ≥ the sustained fill rate, unless the store itself is the limit",
      measured: keepsUp
        ? `${rate(f.drain.rate)} ≥ ${rate(f.fill.rate)} msgs/s`
        : `${rate(f.drain.rate)} < ${rate(f.fill.rate)} msgs/s; the store's ceiling is ${rate(f.ceilingRate)}/s${storeIsLimit ? `, ${ratio(f.fill.rate / f.ceilingRate)} below the fill rate: Cassandra is the limit` : ""}`,
      met: keepsUp || (storeIsLimit && drainVsCeiling >= t.drainVsCeiling),
    },
  ];
}

export function durableSection(r: Durable): string {
  const p = r.params;
  const rounds = r.perRound.length;
  const out = [
    "## durable — the cluster write path: JetStream log, group commit, write-behind into Cassandra",
    "",
    'The cluster write path (`backends.messages = "jetstream"`), msgr only, all on this one machine and unpinned: nats-server with JetStream (file storage, fsync before every ack, one replica), ' +
      "a single-node Cassandra 5 in a 512 MiB heap with its commit log not fsynced (as the test launcher runs it), and the bench process, which runs the edges' log-backed stores and the write-behind worker. " +
      `Each round uses a log of its own (${p.shards} shard streams); ${rounds > 1 ? `figures are medians of ${rounds} rounds` : "one round"}.`,
  ];
  const f = r.figures;
  if (!f) return [...out, "", `Not run: ${r.skipped[0]?.reason ?? "no round finished"}.`].join("\n");

  out.push(
    "",
    `**The log.** Raw JetStream: plain ${p.bodyBytes}-byte publishes into streams with the log's settings, ${p.rawWindow} in flight for ${Number(p.rawMs) / 1000} s: one chat message per JetStream message, so one fsync each. ` +
      `msgr: appends through the log-backed store (one owner per shard puts every waiting message into one envelope: one publish, one fsync), ${num(Number(p.messages))} messages into ${num(Number(p.conversations))} conversations with one append in flight per conversation ` +
      `(${percent(Number(p.busyMessages))} of the messages in ${percent(Number(p.busyConversations))} of the conversations): saturation. ` +
      `Each conversation's first append is made before, apart: the shard's owner reads the conversation's last seq from the history store then (p50 ${ms(f.fill.firstAppend.p50)} ms, p99 ${ms(f.fill.firstAppend.p99)} ms with all ${num(Number(p.conversations))} at once).`,
    "",
    table(
      ["", "streams", "msgs/s", "× raw, one stream", "msgs per JetStream message", "append p50 ms", "append p99 ms", "nats-server CPU ms per 1k"],
      [
        ["raw JetStream", num(f.rawOne.streams), rate(f.rawOne.rate), ratio(1), "1", "—", "—", ms(f.rawOne.logCpuPer1k)],
        ["raw JetStream", num(f.rawSharded.streams), rate(f.rawSharded.rate), ratio(f.rawSharded.rate / f.rawOne.rate), "1", "—", "—", ms(f.rawSharded.logCpuPer1k)],
        ["msgr append (acked)", num(Number(p.shards)), rate(f.fill.rate), ratio(f.fill.rate / f.rawOne.rate), num(f.fill.perEnvelope), ms(f.fill.append.p50), ms(f.fill.append.p99), ms(f.fill.logCpuPer1k)],
      ],
      1,
    ),
    "",
    `**Open loop**: appends on a fixed schedule at ${percent(Number(p.openFraction))} of that rate for ${Number(p.openMs) / 1000} s, round robin over the same conversations; latency from each append's scheduled time to its ack.`,
    "",
    table(
      ["offered/s", "achieved/s", "appends", "p50 ms", "p90 ms", "p99 ms", "max ms", "msgs per JetStream message"],
      [[rate(f.open.offeredRate), rate(f.open.achievedRate), num(f.open.messages), ms(f.open.append.p50), ms(f.open.append.p90), ms(f.open.append.p99), ms(f.open.append.max), num(f.open.perEnvelope)]],
      0,
    ),
    "",
    `**One conversation**: ${num(f.hot.messages)} appends issued at once into one conversation from one edge, then as many from two edges, half each: one owns the conversation's shard, the other forwards its appends to the owner (${num(f.hot.forwarded)} forwarded batches).`,
    "",
    table(["one edge, acked appends/s", "two edges, acked appends/s", "two / one"], [[rate(f.hot.oneWriter), rate(f.hot.twoWriters), ratio(f.hot.twoWriters / f.hot.oneWriter)]], 0),
    "",
    `**The store.** Its ceiling: the Cassandra driver alone writing the rows the worker writes for the round's log (messages, client ids, buckets, senders' and conversations' last seqs; new rows on every pass over the log), for ${Number(p.probeMs) / 1000} s each way: unlogged single-partition batches (under 32 KiB, grouped over ${p.batchSize} messages at a time) or one statement per row, at several numbers of requests in flight. ` +
      `The drain: the write-behind worker with its defaults (batches of ${p.batchSize}, batch wait ${p.batchWaitMs} ms, ${p.writesInFlight} writes in flight, \`${p.writeMode}\` mode) copies the round's log into emptied tables with a new consumer, for at most ${Number(p.drainMs) / 1000} s; msgs/s from its start to its last store write.`,
    "",
    table(
      ["", "requests in flight", "msgs/s", "× ceiling"],
      [
        ...Object.values(f.ceiling).map((c) => [`driver alone, ${c.mode === "batch" ? "unlogged batches" : "single statements"}`, num(c.concurrency), rate(c.rate), ratio(c.rate / f.ceilingRate)]),
        ["msgr worker drain", "—", rate(f.drain.rate), ratio(f.drain.rate / f.ceilingRate)],
      ],
      1,
    ),
    "",
    table(
      ["drained", "store writes", "mean batch", "write p50 ms", "write p99 ms", "Cassandra CPU ms per 1k", "worker CPU ms per 1k", "nats-server CPU ms per 1k"],
      [[num(f.drain.written), num(f.drain.writes), num(f.drain.batchMean), ms(f.drain.write.p50), ms(f.drain.write.p99), ms(f.drain.storeCpuPer1k), ms(f.drain.workerCpuPer1k), ms(f.drain.logCpuPer1k)]],
      0,
    ),
    "",
    backlog(f),
    "",
    `**Targets** (issue 12)${rounds > 1 ? "; a ratio is the median of the rounds' own ratios (both sides measured moments apart), the figures beside it medians of the rounds" : ""}:`,
    "",
    table(
      ["target", "measured", "met"],
      durableChecks(f, r.perRound).map((c) => [c.target, c.measured, c.met ? "yes" : "**no**"]),
      2,
    ),
  );
  return out.join("\n");
}

/** Whether the log's backlog stays bounded at the rate the edges sustain, and what limits it otherwise. */
function backlog(f: DurableRound): string {
  const fill = f.fill.rate;
  const drain = f.drain.rate;
  if (drain >= fill) return `**Backlog**: the worker drains ${rate(drain)} msgs/s, ${ratio(drain / fill)} the ${rate(fill)}/s the edges sustain: the log's backlog stays bounded.`;
  const limit =
    f.ceilingRate < fill
      ? `Cassandra is the limit: its own ceiling here is ${rate(f.ceilingRate)} msgs/s, ${ratio(fill / f.ceilingRate)} below the fill rate, and the worker reaches ${percent(drain / f.ceilingRate)} of it.`
      : `the worker is the limit: Cassandra alone takes ${rate(f.ceilingRate)} msgs/s, and the worker reaches ${percent(drain / f.ceilingRate)} of it.`;
  return `**Backlog**: at saturation the edges fill the log at ${rate(fill)} msgs/s and the worker drains ${rate(drain)}/s, so the backlog grows by ${rate(fill - drain)} msgs/s while the edges are saturated; ${limit} (More workers add throughput only when Cassandra has cores to spare.)`;
}
