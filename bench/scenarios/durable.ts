// Scenario "durable": the cluster write path behind the sender's ack, msgr only, against the
// ceilings of the engines under it, all in one invocation. Each round, on a log of its own:
//
//   1. raw JetStream: plain publishes into a stream with the message log's settings (file
//      storage, fsync before every ack): one chat message per JetStream message and fsync. Once
//      into one stream, once spread over as many streams as the log has shards.
//   2. msgr's append at saturation: a closed loop through the log-backed store (group commit into
//      envelopes, one owner per shard), one append in flight per conversation, skewed traffic.
//   3. msgr's append in an open loop at a share of that rate, latency from the scheduled time.
//   4. one conversation alone: appends from one edge, then from two edges at once (one owns the
//      shard, the other forwards to it).
//   5. the store's ceiling: the Cassandra driver alone writing the rows the worker writes, in
//      each way of batching and concurrency; the fastest is the ceiling.
//   6. the drain: the write-behind worker with its defaults copies the round's log into emptied
//      tables with a new consumer, for at most drainMs (a backlog it does not finish in time).

import { DEFAULTS } from "../../src/config/config.ts";
import { MessageKind } from "../../src/proto/codes.ts";
import type { Statement } from "../../src/storage/cassandra/history-store.ts";
import type { LogEntry } from "../../src/storage/jetstream/envelope.ts";
import type { MessageLog } from "../../src/storage/jetstream/message-log.ts";
import type { LogBackedMessageStore } from "../../src/storage/jetstream/message-store.ts";
import type { NewMessage } from "../../src/storage/types.ts";
import { WorkerMetrics } from "../../src/worker/metrics.ts";
import { WriteBehindWorker } from "../../src/worker/write-behind.ts";
import { LatencyHistogram } from "../lib/histogram.ts";
import { medianOf } from "../lib/median.ts";
import { CpuMeter, machineBusyMs } from "../lib/proc-stats.ts";
import type { Profile } from "../lib/profiles.ts";
import type { ScenarioContext } from "./context.ts";
import { silent, startDurableServices, type DurableServices, type Edge } from "./durable-services.ts";
import type { CeilingProbe, DrainFigures, DurableRound, FillFigures, HotConversationFigures, OpenLoopFigures, RawLogFigures, ScenarioResult } from "./types.ts";

/** Skew of the traffic: this share of the conversations carries this share of the messages. */
const BUSY_CONVERSATIONS = 0.1;
const BUSY_MESSAGES = 0.5;
/** Raw publishes in flight: enough to keep each stream busy. */
const RAW_WINDOW = 256;
/** How long acknowledgements may take to reach the consumers after the last write. */
const ACK_SETTLE_MS = 5_000;
/** The store probes: unlogged single-partition batches and single statements, at these numbers of requests in flight. */
const PROBES: { mode: CeilingProbe["mode"]; concurrency: number }[] = [
  { mode: "batch", concurrency: 128 },
  { mode: "batch", concurrency: 256 },
  { mode: "batch", concurrency: 512 },
  { mode: "batch", concurrency: 1024 },
  { mode: "statements", concurrency: 256 },
  { mode: "statements", concurrency: 1024 },
];
/** Messages whose rows are grouped into batches together: as many as the worker writes at once. */
const PROBE_UNIT = DEFAULTS.worker.batchSize;

type Durable = Extract<ScenarioResult, { scenario: "durable" }>;

export async function runDurable(ctx: ScenarioContext): Promise<ScenarioResult> {
  const p = ctx.args.profile.durable;
  const base = {
    ...ctx.meta,
    scenario: "durable" as const,
    params: {
      messages: p.messages,
      conversations: p.conversations,
      bodyBytes: p.bodyBytes,
      busyConversations: BUSY_CONVERSATIONS,
      busyMessages: BUSY_MESSAGES,
      shards: DEFAULTS.jetstream.shards,
      rawWindow: RAW_WINDOW,
      rawMs: p.rawMs,
      openMs: p.openMs,
      openFraction: p.openFraction,
      hotMessages: p.hotMessages,
      probeMs: p.probeMs,
      drainMs: p.drainMs,
      batchSize: DEFAULTS.worker.batchSize,
      batchWaitMs: DEFAULTS.worker.batchWaitMs,
      writesInFlight: DEFAULTS.worker.writesInFlight,
      writeMode: DEFAULTS.worker.writeMode,
    },
  };
  ctx.progress.stage("durable · starting nats-server and Cassandra");
  let services: DurableServices;
  try {
    services = await startDurableServices();
  } catch (e) {
    return notRun(ctx, base, `nats-server or Cassandra did not start: ${(e as Error).message}`);
  }
  const rounds: DurableRound[] = [];
  try {
    for (let round = 1; round <= ctx.args.profile.rounds; round++) rounds.push(await runRound(ctx, services, p, round));
    return { ...base, skipped: [], perRound: rounds, figures: medianOf(rounds) };
  } catch (e) {
    return notRun(ctx, base, `failed: ${(e as Error).message}`, rounds);
  } finally {
    await services.stop();
  }
}

function notRun(ctx: ScenarioContext, base: Omit<Durable, "skipped" | "perRound" | "figures">, reason: string, rounds: DurableRound[] = []): ScenarioResult {
  ctx.progress.note(`durable: ${reason}`);
  return { ...base, skipped: [{ target: "durable", reason: reason.split("\n")[0]! }], perRound: rounds, ...(rounds.length ? { figures: medianOf(rounds) } : {}) };
}

async function runRound(ctx: ScenarioContext, s: DurableServices, p: Profile["durable"], round: number): Promise<DurableRound> {
  const label = (what: string) => `durable · ${what}${ctx.args.profile.rounds > 1 ? ` · round ${round}` : ""}`;
  const stream = `MSGR_BENCH_${round}`;
  const raw = `RAW_BENCH_${round}`;
  const shards = DEFAULTS.jetstream.shards;
  try {
    ctx.progress.stage(label("raw JetStream, one stream"));
    const rawOne = await rawPublish(ctx, s, `${raw}_ONE`, 1, p.rawMs, p.bodyBytes);
    ctx.progress.stage(label(`raw JetStream, ${shards} streams`));
    const rawSharded = await rawPublish(ctx, s, `${raw}_SHARDED`, shards, p.rawMs, p.bodyBytes);

    const edge = await s.openEdge(stream, "bench-edge-1");
    let fill: FillFigures;
    let open: OpenLoopFigures;
    let hot: HotConversationFigures;
    try {
      ctx.progress.stage(label(`msgr append, closed loop: ${p.messages.toLocaleString("en-US")} messages`));
      fill = await closedLoop(ctx, s, edge.store, p, round);
      ctx.progress.stage(label(`msgr append, open loop at ${Math.round(p.openFraction * 100)}%`));
      open = await openLoop(ctx, s, edge.store, p, fill.rate * p.openFraction, round);
      hot = await hotConversation(ctx, s, edge, stream, p, round, label);
    } finally {
      await edge.close();
    }

    const log = await s.openLog(stream);
    try {
      const entries = await readLog(log);
      const pass = { n: 0 };
      if (round === 1) {
        ctx.progress.stage(label("store ceiling warm-up"));
        await probe(s, entries, { mode: "batch", concurrency: 256 }, p.warmupMs, pass);
      }
      const ceiling: Record<string, CeilingProbe> = {};
      for (const pr of PROBES) {
        ctx.progress.stage(label(`store ceiling: ${pr.mode}, ${pr.concurrency} in flight`));
        ceiling[`${pr.mode}-${pr.concurrency}`] = await probe(s, entries, pr, p.probeMs, pass);
      }
      ctx.progress.stage(label(`drain: ${entries.length.toLocaleString("en-US")} messages`));
      const drained = await drain(ctx, s, log, entries.length, p.drainMs);
      return { rawOne, rawSharded, fill, open, hot, ceiling, ceilingRate: Math.max(...Object.values(ceiling).map((c) => c.rate)), drain: drained };
    } finally {
      await log.close();
    }
  } finally {
    await s.deleteLog(raw);
    await s.deleteLog(stream);
  }
}

/** Messages per conversation: the busy ones share BUSY_MESSAGES of them, the rest share the remainder. */
function conversationSizes(messages: number, conversations: number): number[] {
  const busy = Math.max(1, Math.round(conversations * BUSY_CONVERSATIONS));
  const quiet = conversations - busy;
  const busyTotal = quiet > 0 ? Math.round(messages * BUSY_MESSAGES) : messages;
  const share = (total: number, n: number, i: number) => Math.floor(total / n) + (i < total % n ? 1 : 0);
  return Array.from({ length: conversations }, (_, c) => (c < busy ? share(busyTotal, busy, c) : share(messages - busyTotal, quiet, c - busy)));
}

/** CPU ms per 1,000 messages of nats-server, Cassandra and this process, and the cores everything else kept busy. */
interface CpuPer1k {
  log: number;
  store: number;
  self: number;
  otherCores: number;
}

/** Starts metering; the function it returns reads the CPU used since, per 1,000 of `messages`. */
function meterCpu(s: DurableServices): (messages: number) => CpuPer1k {
  const meter = new CpuMeter([s.logPid, s.storePid, process.pid]);
  const busyBefore = machineBusyMs();
  return (messages) => {
    const w = meter.read();
    const [log = 0, store = 0, self = 0] = w.perProcessMs.map((ms) => (ms * 1000) / messages);
    const others = machineBusyMs() - busyBefore - w.totalMs;
    return { log, store, self, otherCores: w.wallMs > 0 ? Math.max(0, others) / w.wallMs : 0 };
  };
}

/** Plain publishes, RAW_WINDOW in flight, spread over `streams` streams with the log's settings, for `durationMs`. */
async function rawPublish(ctx: ScenarioContext, s: DurableServices, name: string, streams: number, durationMs: number, bodyBytes: number): Promise<RawLogFigures> {
  for (let i = 0; i < streams; i++) await s.rawStream(`${name}-${i}`, `bench.raw.${name}.${i}`);
  const body = new Uint8Array(bodyBytes).fill(0x61);
  let published = 0;
  let next = 0;
  const cpu = meterCpu(s);
  const started = performance.now();
  const end = started + durationMs;
  await Promise.all(
    Array.from({ length: RAW_WINDOW }, async () => {
      while (performance.now() < end) {
        await s.js.publish(`bench.raw.${name}.${next++ % streams}`, body);
        ctx.progress.update(++published, published);
      }
    }),
  );
  const elapsedMs = performance.now() - started;
  return { streams, window: RAW_WINDOW, published, elapsedMs, rate: (published * 1000) / elapsedMs, logCpuPer1k: cpu(published).log };
}

function newMessage(conv: string, from: string, n: number, body: Uint8Array, id: bigint): NewMessage {
  return { conv, id, from, dev: "d1", cid: `${from}-${n}`, kind: MessageKind.Text, body, ts: Date.now() };
}

/**
 * Appends through the store with one append in flight per conversation: saturation. Each
 * conversation's first append comes first, apart: it reads the conversation's last seq from the
 * history store (its latency is reported on its own); the loop then measures steady traffic.
 */
async function closedLoop(ctx: ScenarioContext, s: DurableServices, store: LogBackedMessageStore, p: Profile["durable"], round: number): Promise<FillFigures> {
  const sizes = conversationSizes(p.messages, p.conversations);
  const body = new Uint8Array(p.bodyBytes).fill(0x61);
  const latency = new LatencyHistogram();
  const first = new LatencyHistogram();
  let id = BigInt(round) << 40n;
  await Promise.all(
    sizes.map(async (_, c) => {
      const at = performance.now();
      await store.append(newMessage(`bench-${c}`, `u${c}-first`, 0, body, ++id));
      first.recordMs(performance.now() - at);
    }),
  );
  let sent = 0;
  let acked = 0;
  const before = store.stats();
  const cpu = meterCpu(s);
  const started = performance.now();
  await Promise.all(
    sizes.map(async (count, c) => {
      for (let i = 0; i < count; i++) {
        const at = performance.now();
        ctx.progress.update(++sent, acked);
        await store.append(newMessage(`bench-${c}`, `u${c}-${i % 2}`, i, body, ++id));
        latency.recordMs(performance.now() - at);
        ctx.progress.update(sent, ++acked);
      }
    }),
  );
  const elapsedMs = performance.now() - started;
  const c = cpu(p.messages);
  const after = store.stats();
  return {
    messages: p.messages,
    conversations: p.conversations,
    elapsedMs,
    rate: (p.messages * 1000) / elapsedMs,
    append: latency.summary(),
    firstAppend: first.summary(),
    perEnvelope: (after.messages - before.messages) / Math.max(1, after.envelopes - before.envelopes),
    logCpuPer1k: c.log,
    storeCpuPer1k: c.store,
    benchCpuPer1k: c.self,
    otherCores: c.otherCores,
  };
}

/**
 * Appends on a fixed schedule at `rate`, round robin over the closed loop's conversations (their
 * last seqs are known: steady traffic, not first messages); each latency counts from its
 * scheduled time, so a stall cannot hide.
 */
async function openLoop(ctx: ScenarioContext, s: DurableServices, store: LogBackedMessageStore, p: Profile["durable"], rate: number, round: number): Promise<OpenLoopFigures> {
  const body = new Uint8Array(p.bodyBytes).fill(0x61);
  const latency = new LatencyHistogram();
  const total = Math.max(1, Math.round((rate * p.openMs) / 1000));
  let id = (BigInt(round) << 40n) + (1n << 36n);
  let issued = 0;
  let acked = 0;
  const pending: Promise<void>[] = [];
  const before = store.stats();
  const cpu = meterCpu(s);
  const started = performance.now();
  while (issued < total) {
    const due = Math.min(total, Math.floor(((performance.now() - started) * rate) / 1000) + 1);
    for (; issued < due; issued++) {
      const scheduled = started + (issued * 1000) / rate;
      const c = issued % p.conversations;
      pending.push(
        store.append(newMessage(`bench-${c}`, `o${c}`, issued, body, ++id)).then(() => {
          latency.recordMs(performance.now() - scheduled);
          ctx.progress.update(issued, ++acked);
        }),
      );
    }
    await Bun.sleep(1);
  }
  await Promise.all(pending);
  const elapsedMs = performance.now() - started;
  const after = store.stats();
  return {
    offeredRate: rate,
    achievedRate: (total * 1000) / elapsedMs,
    messages: total,
    append: latency.summary(),
    perEnvelope: (after.messages - before.messages) / Math.max(1, after.envelopes - before.envelopes),
    otherCores: cpu(total).otherCores,
  };
}

/**
 * One conversation as fast as it goes: `hotMessages` appends from one edge, then as many from
 * two edges at once, half each (one owns the shard, the other forwards its appends to it).
 */
async function hotConversation(
  ctx: ScenarioContext,
  s: DurableServices,
  edge: Edge,
  stream: string,
  p: Profile["durable"],
  round: number,
  label: (what: string) => string,
): Promise<HotConversationFigures> {
  const body = new Uint8Array(p.bodyBytes).fill(0x61);
  let id = (BigInt(round) << 40n) + (2n << 36n);
  const timed = async (run: () => Promise<unknown>) => {
    const started = performance.now();
    await run();
    return (p.hotMessages * 1000) / (performance.now() - started);
  };
  const appendAll = (store: LogBackedMessageStore, conv: string, from: string, count: number) =>
    Promise.all(Array.from({ length: count }, (_, i) => store.append(newMessage(conv, from, i, body, ++id)).then(() => ctx.progress.update(i, i))));
  ctx.progress.stage(label(`one conversation, one edge: ${p.hotMessages.toLocaleString("en-US")} appends`));
  const oneWriter = await timed(() => appendAll(edge.store, `bench-hot-1-${round}`, "a", p.hotMessages));
  ctx.progress.stage(label(`one conversation, two edges: ${p.hotMessages.toLocaleString("en-US")} appends`));
  const second = await s.openEdge(stream, "bench-edge-2");
  try {
    const half = Math.floor(p.hotMessages / 2);
    const conv = `bench-hot-2-${round}`;
    const before = second.store.stats().forwarded;
    const twoWriters = await timed(() => Promise.all([appendAll(edge.store, conv, "a", half), appendAll(second.store, conv, "b", p.hotMessages - half)]));
    return { messages: p.hotMessages, oneWriter, twoWriters, forwarded: second.store.stats().forwarded - before };
  } finally {
    await second.close();
  }
}

/** Every message in the log of the round, as the worker will see them. */
async function readLog(log: MessageLog): Promise<LogEntry[]> {
  const out: LogEntry[] = [];
  for (const shard of log.layout.all) await log.walk(shard, 1, (env, logSeq) => (out.push(...env.messages.map((message) => ({ message, logSeq }))), true));
  return out;
}

/**
 * The store alone: the driver sends the rows the worker would write for `entries` (cycling
 * through them, new rows on every pass), as unlogged single-partition batches or single
 * statements, `concurrency` requests in flight, for `durationMs`.
 */
async function probe(s: DurableServices, entries: LogEntry[], pr: { mode: CeilingProbe["mode"]; concurrency: number }, durationMs: number, pass: { n: number }): Promise<CeilingProbe> {
  // Work units of PROBE_UNIT messages, each a list of requests. Every pass over the log writes
  // new rows (its conversations renamed), as the drain does into emptied tables.
  const unit = (i: number) => {
    const chunk = entries.slice(i, i + PROBE_UNIT).map((e) => ({ ...e, message: { ...e.message, conv: `${e.message.conv}~${pass.n}` } }));
    const { lasts, rows } = s.history.statements(chunk);
    const all = [...lasts, ...rows];
    return { messages: chunk.length, requests: pr.mode === "batch" ? s.history.batches(all) : all.map((st) => [st]) };
  };
  const requests = function* () {
    for (let i = 0; ; i += PROBE_UNIT) {
      if (i >= entries.length) {
        i = 0;
        pass.n++;
      }
      const u = unit(i);
      for (let r = 0; r < u.requests.length; r++) yield { group: u.requests[r]!, messages: r === u.requests.length - 1 ? u.messages : 0 };
    }
  };
  const it = requests();
  let messages = 0;
  const started = performance.now();
  const end = started + durationMs;
  await Promise.all(
    Array.from({ length: pr.concurrency }, async () => {
      while (performance.now() < end) {
        const { group, messages: done } = it.next().value!;
        if (group.length === 1) await s.cql.execute(group[0]!.query, group[0]!.params, { prepare: true });
        else await s.cql.batch(group, { prepare: true, logged: false });
        messages += done;
      }
    }),
  );
  pass.n++;
  const elapsedMs = performance.now() - started;
  return { ...pr, messages, rate: (messages * 1000) / elapsedMs };
}

/** Times each store write the worker makes and counts its messages (the worker's own histogram buckets are too coarse for a p99). */
class WriteRecorder {
  readonly latency = new LatencyHistogram();
  writes = 0;
  written = 0;
  lastWriteAt = 0;
  /** Set at the end of the measured phase: the write in hand when the worker stops is not counted. */
  closed = false;
  /** The store as the worker sees it: the same object, with write() timed. */
  readonly history: DurableServices["history"];

  constructor(inner: DurableServices["history"]) {
    const timed = Object.create(inner) as DurableServices["history"];
    timed.write = async (entries, mode) => {
      const started = performance.now();
      await inner.write(entries, mode);
      if (this.closed) return;
      this.lastWriteAt = performance.now();
      this.latency.recordMs(this.lastWriteAt - started);
      this.writes++;
      this.written += entries.length;
    };
    this.history = timed;
  }
}

/** Drains the round's log into emptied tables with the worker's defaults and a new consumer, for at most `limitMs`. */
async function drain(ctx: ScenarioContext, s: DurableServices, log: MessageLog, total: number, limitMs: number): Promise<DrainFigures> {
  await s.truncate();
  const rec = new WriteRecorder(s.history);
  let worker: WriteBehindWorker | undefined;
  const metrics = new WorkerMetrics(() => worker!.backlog());
  worker = new WriteBehindWorker(log, rec.history, { ...DEFAULTS.worker }, metrics, silent);
  const cpu = meterCpu(s);
  const started = performance.now();
  let written: number;
  let c: CpuPer1k;
  let backlogLeft = 0;
  try {
    await worker.start();
    while (rec.written < total && performance.now() - started < limitMs) {
      ctx.progress.update(total, rec.written);
      await Bun.sleep(20);
    }
    rec.closed = true;
    written = rec.written;
    c = cpu(written);
    if (written >= total) {
      const settleBy = performance.now() + ACK_SETTLE_MS;
      while ((backlogLeft = await worker.backlog()) > 0 && performance.now() < settleBy) await Bun.sleep(50);
    }
  } finally {
    await worker.stop();
  }
  const elapsedMs = rec.lastWriteAt - started;
  return {
    written,
    capped: written < total,
    elapsedMs,
    rate: (written * 1000) / elapsedMs,
    writes: rec.writes,
    write: rec.latency.summary(),
    batchMean: written / Math.max(1, rec.writes),
    storeCpuPer1k: c.store,
    workerCpuPer1k: c.self,
    logCpuPer1k: c.log,
    otherCores: c.otherCores,
    storeErrors: (await metrics.storeErrors.get()).values[0]?.value ?? 0,
    rowsStored: await s.countRows(),
    backlogLeft,
  };
}
