// The report's section for the durable scenario: filling the JetStream log, then draining it into
// Cassandra with each write mode, and one message per write for the ratio.

import type { DrainFigures, DurableVariant, ScenarioResult } from "../scenarios/types.ts";
import { ms, num, percent, rate, ratio, table } from "./format.ts";

type Durable = Extract<ScenarioResult, { scenario: "durable" }>;

/** Two write modes closer than this are a tie on a shared machine. */
const TIE = 0.05;

export function durableSection(r: Durable): string {
  const p = r.params;
  const out = [
    "## durable — JetStream log and write-behind into Cassandra",
    "",
    'The cluster write path (`backends.messages = "jetstream"`), msgr only, all on this one machine and unpinned: nats-server with JetStream (file storage, fsync before every ack, one replica), ' +
      "a single-node Cassandra 5 in a 512 MiB heap with its commit log not fsynced (as the test launcher runs it), and the bench process, which runs the log-backed store and the write-behind worker.",
  ];
  const f = r.fill;
  if (f) {
    out.push(
      "",
      `**Fill**, once: ${num(f.messages)} messages of ${p.bodyBytes} bytes through the log-backed store's append (a fenced publish acknowledged once JetStream has the message on disk: the sender's ack; first sends do not read the store), ` +
        `into ${num(f.conversations)} conversations with one append in flight per conversation; ${percent(Number(p.busyMessages))} of the messages go to ${percent(Number(p.busyConversations))} of the conversations.`,
      "",
      table(
        ["messages", "acked appends/s", "append p50 ms", "append p99 ms", "nats-server CPU ms per 1k", "Cassandra CPU ms per 1k", "bench process CPU ms per 1k"],
        [[num(f.messages), rate(f.rate), ms(f.append.p50), ms(f.append.p99), ms(f.logCpuPer1k), ms(f.storeCpuPer1k), ms(f.benchCpuPer1k)]],
        0,
      ),
    );
  }
  if (r.variants.length === 0) return [...out, "", `Not run: ${r.skipped[0]?.reason ?? "no variant finished"}.`].join("\n");

  const single = r.variants.find((v) => v.batchSize === 1);
  out.push(
    "",
    `**Drain**: each variant drains that same pre-filled log with a new consumer (it reads the log from the start) into emptied tables, through the product's write-behind worker (batch wait ${p.batchWaitMs} ms). ` +
      `msgs/s runs from the worker's start to its last store write. Write latency is per store write: a whole batch, or one message. ` +
      `one-at-a-time writes and acknowledges each message alone and is measured over its first ${Number(p.oneAtATimeMs) / 1000} s only (draining the whole log would take minutes). ` +
      "Draining a backlog fills nearly every batch; live traffic would make smaller ones.",
    "",
    table(
      ["variant", "write mode", "batch size", "messages written", "msgs/s", "× one-at-a-time", "store writes", "write p50 ms", "write p99 ms", "batch sizes", "Cassandra CPU ms per 1k", "worker CPU ms per 1k", "nats-server CPU ms per 1k"],
      r.variants.map((v) => {
        const d = v.figures;
        return [
          v.variant,
          v.writeMode,
          num(v.batchSize),
          d.capped ? `${num(d.written)} (first ${ms(d.elapsedMs / 1000)} s)` : num(d.written),
          rate(d.rate),
          single ? ratio(d.rate / single.figures.rate) : "—",
          num(d.writes),
          ms(d.write.p50),
          ms(d.write.p99),
          batchSizes(v.batchSize, d),
          ms(d.storeCpuPer1k),
          ms(d.workerCpuPer1k),
          ms(d.logCpuPer1k),
        ];
      }),
      2,
    ),
  );
  const verdict = fasterMode(r.variants);
  if (verdict) out.push("", verdict);
  if (r.hot) out.push("", ...hotConversation(r.hot));
  return out.join("\n");
}

/** The ceiling of one busy conversation, and what two writers racing for it (two edges) cost. */
function hotConversation(h: NonNullable<Durable["hot"]>): string[] {
  return [
    `**One conversation**, after the drains, once: ${num(h.messages)} appends as fast as they go, by one writer, then by two writers at once (two edges' stores, half each). ` +
      "A conversation's appends are serial (each publish is fenced on the one before), so this is the most one conversation takes; many conversations append in parallel (the fill above).",
    "",
    table(
      ["messages", "one writer, acked appends/s", "two racing writers, acked appends/s", "two / one", "publishes refused by the fence"],
      [[num(h.messages), rate(h.oneWriter), rate(h.twoWriters), ratio(h.twoWriters / h.oneWriter), percent(h.conflictShare)]],
      0,
    ),
  ];
}

function batchSizes(limit: number, d: DrainFigures): string {
  if (limit === 1) return "1";
  const counts: [number, string][] = [
    [d.fullBatches, `full (${limit})`],
    [d.halfBatches, "≥ ½ full"],
    [1 - d.fullBatches - d.halfBatches, "smaller"],
  ];
  const parts = counts.map(([share, what]) => [Math.round(share * d.writes), what] as const).filter(([n]) => n > 0);
  return `${parts.map(([n, what]) => `${num(n)} ${what}`).join(", ")}; mean ${num(d.batchMean)}`;
}

/** Which write mode to keep: the faster drain, with what speaks against trusting that on a noisy machine. */
function fasterMode(variants: DurableVariant[]): string | null {
  const batch = variants.find((v) => v.variant === "batch");
  const concurrent = variants.find((v) => v.variant === "concurrent");
  if (!batch || !concurrent) return null;
  const [w, l] = batch.figures.rate >= concurrent.figures.rate ? [batch, concurrent] : [concurrent, batch];
  const gap = w.figures.rate / l.figures.rate;
  // Round i of every variant ran in the same pass, so rounds compare pairwise.
  const rounds = Math.min(w.rounds.length, l.rounds.length);
  const wins = w.rounds.slice(0, rounds).filter((r, i) => r.figures.rate > l.rounds[i]!.figures.rate).length;
  const out = [
    `Faster write mode: **${w.variant}**, ${rate(w.figures.rate)} against ${rate(l.figures.rate)} msgs/s (${ratio(gap)})${rounds > 1 ? `, faster in ${wins} of ${rounds} rounds` : ""}; ` +
      `Cassandra CPU ${ms(w.figures.storeCpuPer1k)} against ${ms(l.figures.storeCpuPer1k)} ms per 1k messages.`,
  ];
  if (rounds === 1) out.push("One round only, in a fixed order: choose with --rounds 3 or more (each round starts with another variant).");
  else if (gap - 1 < TIE || wins * 2 <= rounds) out.push("That is within this machine's noise: compare them with more --rounds before choosing.");
  return out.join(" ");
}
