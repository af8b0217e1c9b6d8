// The write-behind worker: consumes every shard's stream of the message log through a durable
// JetStream consumer, writes the messages of the envelopes it holds to the history store in
// batches (several full ones in flight under load), and acknowledges each envelope only after the store
// confirmed every message in it. A crash at any point loses nothing (unacknowledged envelopes are
// redelivered) and duplicates nothing (rows are keyed by conv and seq, so a replay rewrites
// identical rows). While the store is down the batches in hand are retried with backoff and
// envelopes wait in the log; JetStream stops delivering at max_ack_pending, which bounds the
// worker's memory. Several workers may run with the same consumer name: they share the envelopes.

import { AckPolicy, DeliverPolicy, nanos, type ConsumerMessages, type JetStreamManager, type JsMsg } from "nats";
import type { Logger } from "pino";
import type { Config } from "../config/config.ts";
import type { CassandraHistory } from "../storage/cassandra/history-store.ts";
import { decodeEnvelope, type LogEntry } from "../storage/jetstream/envelope.ts";
import type { MessageLog } from "../storage/jetstream/message-log.ts";
import type { WorkerMetrics } from "./metrics.ts";

/** The `worker` settings (documented in src/config/config.ts) that shape the consumers and the writes, and two hooks. */
export type WriteBehindOptions = Pick<Config["worker"], "consumer" | "batchSize" | "batchWaitMs" | "writeMode" | "writesInFlight" | "maxRetryDelayMs" | "ackWaitMs"> & {
  /** Called after a batch is in the store and before its envelopes are acknowledged (fault-injection tests). */
  afterStoreWrite?: () => void;
  /** Called if a consumer stops delivering for good (e.g. it was deleted): the worker is useless from then on. */
  onFatal?: (err: Error) => void;
};

/**
 * Envelopes in flight per shard across all workers of a consumer: bounds their memory while the
 * store is down (an envelope is at most 256 KiB, and much smaller unless traffic is heavy).
 */
const MAX_ACK_PENDING = 128;

/** A delivered envelope, decoded. */
interface Held {
  key: string;
  msg: JsMsg;
  entries: LogEntry[];
}

export class WriteBehindWorker {
  private readonly consumers: ConsumerMessages[] = [];
  /** Delivered, not yet in a write, in delivery order (a redelivery replaces the earlier delivery). */
  private readonly held = new Map<string, Held>();
  /** In a write, not yet acknowledged. */
  private readonly writing = new Map<string, Held>();
  private heldMessages = 0;
  private wake: (() => void) | undefined;
  /** How many held messages wake the write loop: 1 while it waits for any, a full batch while one fills. */
  private wakeAt = 1;
  private inFlight = 0;
  /** Writes retrying against a store that refuses them: no new writes start meanwhile. */
  private failing = 0;
  private readonly writes = new Set<Promise<void>>();
  private stopping = false;
  private loop: Promise<void> | undefined;
  /** Set by start(); backlog() asks it at every /metrics scrape. */
  private jsm: JetStreamManager | undefined;

  constructor(
    private readonly log: MessageLog,
    private readonly history: CassandraHistory,
    private readonly opts: WriteBehindOptions,
    private readonly metrics: WorkerMetrics,
    private readonly logger: Logger,
  ) {}

  async start(): Promise<void> {
    const jsm = (this.jsm = await this.log.nc.jetstreamManager());
    const settings = { ack_wait: nanos(this.opts.ackWaitMs), max_deliver: -1, max_ack_pending: MAX_ACK_PENDING };
    for (const shard of this.log.layout.all) {
      const stream = this.log.layout.stream(shard);
      // Workers share one durable consumer per shard; the first creates it, later ones bring its settings in line.
      const exists = await jsm.consumers.info(stream, this.opts.consumer).then(
        () => true,
        () => false,
      );
      if (exists) await jsm.consumers.update(stream, this.opts.consumer, settings);
      else await jsm.consumers.add(stream, { durable_name: this.opts.consumer, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All, ...settings });
      const consumer = await this.log.nc.jetstream().consumers.get(stream, this.opts.consumer);
      const messages = await consumer.consume({ max_messages: MAX_ACK_PENDING / 2 });
      this.consumers.push(messages);
      this.receive(shard, messages).catch((err) => {
        if (!this.stopping) this.opts.onFatal?.(err as Error);
      });
    }
    this.loop = this.writeLoop();
    this.logger.info({ stream: this.log.layout.base, shards: this.log.layout.shards, consumer: this.opts.consumer, mode: this.opts.writeMode, batchSize: this.opts.batchSize, writesInFlight: this.opts.writesInFlight }, "write-behind worker started");
  }

  /** Backlog: envelopes not yet delivered plus delivered and not yet acknowledged, over every shard. */
  async backlog(): Promise<number> {
    if (!this.jsm) throw new Error("the worker has not started");
    const infos = await Promise.all(this.log.layout.all.map((shard) => this.jsm!.consumers.info(this.log.layout.stream(shard), this.opts.consumer)));
    return infos.reduce((n, info) => n + info.num_pending + info.num_ack_pending, 0);
  }

  private async receive(shard: number, messages: ConsumerMessages): Promise<void> {
    for await (const m of messages) {
      const key = `${shard}:${m.seq}`;
      if (this.held.has(key) || this.writing.has(key)) {
        this.metrics.redeliveries.inc();
        // Being written: that write acknowledges it.
        if (this.writing.has(key)) continue;
        this.heldMessages -= this.held.get(key)!.entries.length;
        this.held.delete(key);
      }
      let entries: LogEntry[];
      try {
        entries = decodeEnvelope(m.data).messages.map((message) => ({ message, logSeq: m.seq }));
      } catch (err) {
        // Only log-backed stores publish here and they check messages first; an envelope that
        // does not decode cannot be written, ever. Keep it out of the way, loudly.
        this.logger.error({ err, shard, logSeq: m.seq }, "undecodable log envelope: terminated, not stored");
        this.metrics.poison.inc();
        m.term();
        continue;
      }
      // A new owner's marker holds nothing to write.
      if (entries.length === 0) {
        m.ack();
        continue;
      }
      this.held.set(key, { key, msg: m, entries });
      this.heldMessages += entries.length;
      if (this.heldMessages >= this.wakeAt) this.wake?.();
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise<void>((r) => {
      this.wake = r;
      if (ms > 0) setTimeout(r, ms);
    });
  }

  private async writeLoop(): Promise<void> {
    /** Whether the loop just woke from having nothing to write: then a batch may fill up for a moment. */
    let fromIdle = true;
    while (!this.stopping) {
      if (this.heldMessages === 0) {
        this.wakeAt = 1;
        await this.sleep(0);
        fromIdle = true;
        continue;
      }
      // A partial batch is written only when no write is in flight (what arrives meanwhile joins
      // the next one: fewer, fuller writes for the store); full batches pipeline.
      if (this.heldMessages < this.opts.batchSize && this.inFlight > 0) {
        this.wakeAt = this.opts.batchSize;
        await this.sleep(0);
        continue;
      }
      if (this.heldMessages < this.opts.batchSize && fromIdle && !this.stopping) {
        this.wakeAt = this.opts.batchSize;
        await this.sleep(this.opts.batchWaitMs);
      }
      fromIdle = false;
      // A free write slot, and a store that takes writes.
      while ((this.inFlight >= this.opts.writesInFlight || this.failing > 0) && !this.stopping) {
        this.wakeAt = Infinity;
        await this.sleep(0);
      }
      this.wake = undefined;
      if (this.stopping) break;
      const batch: Held[] = [];
      let size = 0;
      for (const h of this.held.values()) {
        if (size > 0 && size + h.entries.length > this.opts.batchSize) break;
        batch.push(h);
        size += h.entries.length;
      }
      for (const h of batch) {
        this.held.delete(h.key);
        this.writing.set(h.key, h);
      }
      this.heldMessages -= size;
      if (batch.length === 0) continue;
      this.inFlight++;
      const write = this.write(batch).finally(() => {
        this.inFlight--;
        this.writes.delete(write);
        this.wake?.();
      });
      this.writes.add(write);
    }
    await Promise.allSettled([...this.writes]);
  }

  private async write(batch: Held[]): Promise<void> {
    const entries = batch.flatMap((h) => h.entries);
    if (!(await this.writeWithRetry(entries, batch))) return;
    this.opts.afterStoreWrite?.();
    for (const h of batch) {
      h.msg.ack();
      this.writing.delete(h.key);
    }
  }

  /** Writes until the store confirms; false when the worker is stopped first. */
  private async writeWithRetry(entries: LogEntry[], batch: Held[]): Promise<boolean> {
    let delay = 100;
    let lastProgress = Date.now();
    let failed = false;
    try {
      for (;;) {
        const started = performance.now();
        try {
          await this.history.write(entries, this.opts.writeMode);
          this.metrics.batchSize.observe(entries.length);
          this.metrics.writeSeconds.observe((performance.now() - started) / 1000);
          this.metrics.written.inc(entries.length);
          return true;
        } catch (err) {
          this.metrics.storeErrors.inc();
          if (!failed) this.failing++;
          failed = true;
          this.logger.warn({ err: (err as Error).message, entries: entries.length, retryInMs: delay }, "store write failed; entries stay in the log, retrying");
        }
        if (this.stopping) return false;
        await Bun.sleep(delay);
        delay = Math.min(delay * 2, this.opts.maxRetryDelayMs);
        // Envelopes in hand are reported in progress, so they are not redelivered to another worker meanwhile.
        if (Date.now() - lastProgress >= this.opts.ackWaitMs / 4) {
          for (const h of [...batch, ...this.held.values()]) h.msg.working();
          lastProgress = Date.now();
        }
      }
    } finally {
      if (failed) this.failing--;
    }
  }

  /** Stops taking envelopes, finishes (or abandons, if the store is down) the writes in hand. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    await Promise.all(this.consumers.map((m) => m.close()));
    await this.loop;
    // Whatever is still held was never acknowledged: the log redelivers it to the next worker.
    this.held.clear();
    this.writing.clear();
    this.heldMessages = 0;
  }
}
