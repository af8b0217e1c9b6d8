// Scenario "durable": the cluster write path behind the sender's ack, msgr only. The log is
// filled once through the log-backed store (the sender-visible part: appends acknowledged once
// JetStream has them on disk). Then write-behind workers drain that same log into Cassandra, each
// variant with a new consumer that reads it from the start into emptied tables, so every variant
// writes identical input: unlogged batches per partition, concurrent prepared statements, and
// one message per write (no batching) for the ratio. Rounds alternate the variants.

import { DEFAULTS } from "../../src/config/config.ts";
import { MessageKind } from "../../src/proto/codes.ts";
import type { CassandraHistory, WriteMode } from "../../src/storage/cassandra/history-store.ts";
import { WorkerMetrics } from "../../src/worker/metrics.ts";
import { WriteBehindWorker } from "../../src/worker/write-behind.ts";
import { LatencyHistogram } from "../lib/histogram.ts";
import { medianOf } from "../lib/median.ts";
import { CpuMeter, machineBusyMs } from "../lib/proc-stats.ts";
import type { Profile } from "../lib/profiles.ts";
import { stageLabel, type ScenarioContext } from "./context.ts";
import { silent, startDurableServices, type DurableServices } from "./durable-services.ts";
import type { DrainFigures, DurableVariant, DurableVariantName, FillFigures, HotConversationFigures, ScenarioResult } from "./types.ts";

/** Skew of the fill: this share of the conversations carries this share of the messages, so batches hold several rows of some partitions. */
const BUSY_CONVERSATIONS = 0.1;
const BUSY_MESSAGES = 0.5;
/** A batched drain still running after this long is stopped and reported as capped. */
const DRAIN_LIMIT_MS = 600_000;
/** How long acknowledgements may take to reach the consumer after the last write. */
const ACK_SETTLE_MS = 5_000;

interface Variant {
  name: DurableVariantName;
  writeMode: WriteMode;
  batchSize: number;
}

const VARIANTS: Variant[] = [
  { name: "batch", writeMode: "batch", batchSize: DEFAULTS.worker.batchSize },
  { name: "concurrent", writeMode: "concurrent", batchSize: DEFAULTS.worker.batchSize },
  // One message per write: its few statements go to different partitions, so both modes send them alike.
  { name: "one-at-a-time", writeMode: "concurrent", batchSize: 1 },
];

type Round = DurableVariant["rounds"][number];

export async function runDurable(ctx: ScenarioContext): Promise<ScenarioResult> {
  const p = ctx.args.profile.durable;
  const base = {
    ...ctx.meta,
    scenario: "durable" as const,
    params: { messages: p.messages, conversations: p.conversations, bodyBytes: p.bodyBytes, busyConversations: BUSY_CONVERSATIONS, busyMessages: BUSY_MESSAGES, oneAtATimeMs: p.oneAtATimeMs, batchWaitMs: DEFAULTS.worker.batchWaitMs },
  };
  ctx.progress.stage("durable · starting nats-server and Cassandra");
  let services: DurableServices;
  try {
    services = await startDurableServices();
  } catch (e) {
    return notRun(ctx, base, `nats-server or Cassandra did not start: ${(e as Error).message}`);
  }
  let fill: FillFigures | undefined;
  try {
    fill = await fillLog(ctx, services, p);
    // Cassandra's JIT warms each write path separately: a short unmeasured drain in each batched mode.
    for (const v of VARIANTS.filter((x) => x.batchSize > 1)) {
      ctx.progress.stage(`durable · warm-up · ${v.name}`);
      await drain(ctx, services, v, `bench-warmup-${v.name}`, p.warmupMs);
    }
    const rounds = new Map<DurableVariantName, Round[]>(VARIANTS.map((v) => [v.name, []]));
    for (let round = 1; round <= ctx.args.profile.rounds; round++) {
      // Each round starts with another variant, so drift on a shared machine hits all alike.
      for (let i = 0; i < VARIANTS.length; i++) {
        const v = VARIANTS[(i + round - 1) % VARIANTS.length]!;
        ctx.progress.stage(stageLabel(ctx, "durable", v.name, round)(v.batchSize > 1 ? "drain" : `first ${p.oneAtATimeMs / 1000} s`));
        rounds.get(v.name)!.push(await drain(ctx, services, v, `bench-${v.name}-${round}`, v.batchSize > 1 ? DRAIN_LIMIT_MS : p.oneAtATimeMs));
      }
    }
    const variants = VARIANTS.map((v): DurableVariant => {
      const r = rounds.get(v.name)!;
      return { variant: v.name, writeMode: v.writeMode, batchSize: v.batchSize, rounds: r, figures: medianOf(r.map((x) => x.figures)) };
    });
    const hot = await hotConversation(ctx, services, Math.max(1_000, Math.round(p.messages / 10)));
    return { ...base, skipped: [], fill, variants, hot };
  } catch (e) {
    return notRun(ctx, base, `failed: ${(e as Error).message}`, fill);
  } finally {
    await services.stop();
  }
}

function notRun(ctx: ScenarioContext, base: Omit<Extract<ScenarioResult, { scenario: "durable" }>, "skipped" | "variants">, reason: string, fill?: FillFigures): ScenarioResult {
  ctx.progress.note(`durable: ${reason}`);
  return { ...base, skipped: [{ target: "durable", reason: reason.split("\n")[0]! }], ...(fill ? { fill } : {}), variants: [] };
}

/** Messages per conversation: the busy ones share BUSY_MESSAGES of them, the rest share the remainder. */
function conversationSizes(messages: number, conversations: number): number[] {
  const busy = Math.max(1, Math.round(conversations * BUSY_CONVERSATIONS));
  const quiet = conversations - busy;
  const busyTotal = quiet > 0 ? Math.round(messages * BUSY_MESSAGES) : messages;
  const share = (total: number, n: number, i: number) => Math.floor(total / n) + (i < total % n ? 1 : 0);
  return Array.from({ length: conversations }, (_, c) => (c < busy ? share(busyTotal, busy, c) : share(messages - busyTotal, quiet, c - busy)));
}

/** CPU ms per 1,000 messages of nats-server, Cassandra and this process (the store's or the worker's client side), and the cores everything else kept busy. */
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

/** Appends the messages through the log-backed store, one append in flight per conversation (a conversation's appends are serial anyway). */
async function fillLog(ctx: ScenarioContext, s: DurableServices, p: Profile["durable"]): Promise<FillFigures> {
  ctx.progress.stage(`durable · fill the log: ${p.messages.toLocaleString("en-US")} messages`);
  const sizes = conversationSizes(p.messages, p.conversations);
  const body = new Uint8Array(p.bodyBytes).fill(0x61);
  const latency = new LatencyHistogram();
  let id = 0n;
  let sent = 0;
  let acked = 0;
  const cpu = meterCpu(s);
  const started = performance.now();
  await Promise.all(
    sizes.map(async (count, c) => {
      for (let i = 0; i < count; i++) {
        const at = performance.now();
        ctx.progress.update(++sent, acked);
        await s.store.append({ conv: `bench-${c}`, id: ++id, from: `u${c}-${i % 2}`, dev: "d1", cid: `m${i}`, kind: MessageKind.Text, body, ts: Date.now() });
        latency.recordMs(performance.now() - at);
        ctx.progress.update(sent, ++acked);
      }
    }),
  );
  const elapsedMs = performance.now() - started;
  const c = cpu(p.messages);
  return {
    messages: p.messages,
    conversations: p.conversations,
    elapsedMs,
    rate: (p.messages * 1000) / elapsedMs,
    append: latency.summary(),
    logCpuPer1k: c.log,
    storeCpuPer1k: c.store,
    benchCpuPer1k: c.self,
    otherCores: c.otherCores,
  };
}

/**
 * One conversation as fast as it goes: `messages` appends by one writer, then as many by two
 * writers (two edges' stores) at once, half each. Appends to one conversation are serial (each
 * publish is fenced on the one before), so this is the ceiling of a single busy conversation,
 * and the second figure is what writers racing on different nodes cost. Runs after the drains:
 * its entries are not part of the log they measure.
 */
async function hotConversation(ctx: ScenarioContext, s: DurableServices, messages: number): Promise<HotConversationFigures> {
  const body = new Uint8Array(ctx.args.profile.durable.bodyBytes).fill(0x61);
  let id = 1n << 40n;
  const append = (store: DurableServices["store"], conv: string, from: string, i: number) =>
    store.append({ conv, id: ++id, from, dev: "d1", cid: `${from}-${i}`, kind: MessageKind.Text, body, ts: Date.now() });
  const timed = async (run: () => Promise<unknown>) => {
    const started = performance.now();
    await run();
    return (messages * 1000) / (performance.now() - started);
  };
  ctx.progress.stage(`durable · one conversation, one writer: ${messages.toLocaleString("en-US")} appends`);
  const oneWriter = await timed(() => Promise.all(Array.from({ length: messages }, (_, i) => append(s.store, "bench-hot-1", "a", i))));
  ctx.progress.stage(`durable · one conversation, two racing writers: ${messages.toLocaleString("en-US")} appends`);
  const second = await s.secondWriter();
  try {
    const before = s.store.fenceConflicts;
    const half = Math.floor(messages / 2);
    const twoWriters = await timed(() =>
      Promise.all([
        ...Array.from({ length: half }, (_, i) => append(s.store, "bench-hot-2", "a", i)),
        ...Array.from({ length: messages - half }, (_, i) => append(second.store, "bench-hot-2", "b", i)),
      ]),
    );
    const conflicts = s.store.fenceConflicts - before + second.store.fenceConflicts;
    return { messages, oneWriter, twoWriters, conflictShare: conflicts / messages };
  } finally {
    await second.close();
  }
}

/** Times each store write the worker makes and counts its entries (the worker's own histogram buckets are too coarse for a p99). */
class WriteRecorder {
  readonly latency = new LatencyHistogram();
  readonly sizes = new Map<number, number>();
  written = 0;
  lastWriteAt = 0;
  /** Set at the end of the measured phase: the write in hand when the worker stops is not counted. */
  closed = false;
  /** The store as the worker sees it: the same object, with write() timed. */
  readonly history: CassandraHistory;

  constructor(inner: CassandraHistory) {
    const timed = Object.create(inner) as CassandraHistory;
    timed.write = async (entries, mode) => {
      const started = performance.now();
      await inner.write(entries, mode);
      if (this.closed) return;
      this.lastWriteAt = performance.now();
      this.latency.recordMs(this.lastWriteAt - started);
      this.sizes.set(entries.length, (this.sizes.get(entries.length) ?? 0) + 1);
      this.written += entries.length;
    };
    this.history = timed;
  }
}

/** Drains the log into emptied tables with a new consumer until every message is written or `limitMs` passes. */
async function drain(ctx: ScenarioContext, s: DurableServices, v: Variant, consumer: string, limitMs: number): Promise<Round> {
  await s.truncate();
  const total = ctx.args.profile.durable.messages;
  const rec = new WriteRecorder(s.history);
  let worker: WriteBehindWorker | undefined;
  const metrics = new WorkerMetrics(() => worker!.backlog());
  worker = new WriteBehindWorker(s.log, rec.history, { ...DEFAULTS.worker, consumer, batchSize: v.batchSize, writeMode: v.writeMode }, metrics, silent);
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
    await s.deleteConsumer(consumer);
  }
  const elapsedMs = rec.lastWriteAt - started;
  const writes = [...rec.sizes.values()].reduce((a, b) => a + b, 0);
  const share = (test: (size: number) => boolean) => [...rec.sizes].reduce((n, [size, count]) => n + (test(size) ? count : 0), 0) / writes;
  const figures: DrainFigures = {
    written,
    capped: written < total,
    elapsedMs,
    rate: (written * 1000) / elapsedMs,
    writes,
    write: rec.latency.summary(),
    batchMean: written / writes,
    fullBatches: share((n) => n === v.batchSize),
    halfBatches: share((n) => n >= v.batchSize / 2 && n < v.batchSize),
    storeCpuPer1k: c.store,
    workerCpuPer1k: c.self,
    logCpuPer1k: c.log,
    otherCores: c.otherCores,
    storeErrors: (await metrics.storeErrors.get()).values[0]?.value ?? 0,
    rowsStored: await s.countRows(),
    backlogLeft,
  };
  return { figures, write: rec.latency.toData(), batchSizes: [...rec.sizes].sort((a, b) => a[0] - b[0]) };
}
