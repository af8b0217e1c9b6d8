// The write-behind worker: consumes the message log through a durable JetStream consumer, writes
// batches to the history store, and acknowledges each log entry only after the store confirmed
// its batch. A crash at any point loses nothing (unacknowledged entries are redelivered) and
// duplicates nothing (rows are keyed by conv and seq, so a replay rewrites identical rows).
// While the store is down the current batch is retried with backoff and entries wait in the
// log; JetStream stops delivering at max_ack_pending, which bounds the worker's memory.
// Several workers may run with the same consumer name: they share the entries.

import { AckPolicy, DeliverPolicy, nanos, type ConsumerMessages, type JetStreamManager, type JsMsg } from "nats";
import type { Logger } from "pino";
import type { Config } from "../config/config.ts";
import type { CassandraHistory } from "../storage/cassandra/history-store.ts";
import { decodeEntry, type LogEntry, type MessageLog } from "../storage/jetstream/message-log.ts";
import type { WorkerMetrics } from "./metrics.ts";

/** The `worker` settings (documented in src/config/config.ts) that shape the consumer and the writes, and two hooks. */
export type WriteBehindOptions = Pick<Config["worker"], "consumer" | "batchSize" | "batchWaitMs" | "writeMode" | "maxRetryDelayMs" | "ackWaitMs"> & {
  /** Called after a batch is in the store and before its entries are acknowledged (fault-injection tests). */
  afterStoreWrite?: () => void;
  /** Called if the consumer stops delivering for good (e.g. it was deleted): the worker is useless from then on. */
  onFatal?: (err: Error) => void;
};

/** The most entries in flight across all workers of a consumer: bounds their memory while the store is down. */
const MAX_ACK_PENDING = 20_000;

export class WriteBehindWorker {
  private messages: ConsumerMessages | undefined;
  /** Delivered and not yet acknowledged, by stream sequence (a redelivery replaces the earlier delivery). */
  private readonly held = new Map<number, JsMsg>();
  private wake: (() => void) | undefined;
  /** How many held entries wake the write loop: 1 while it waits for any, a full batch while one fills. */
  private wakeAt = 1;
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
    const settings = {
      ack_wait: nanos(this.opts.ackWaitMs),
      max_deliver: -1,
      max_ack_pending: MAX_ACK_PENDING,
    };
    // Workers share one durable consumer; the first creates it, later ones bring its settings in line.
    const exists = await jsm.consumers.info(this.log.stream, this.opts.consumer).then(
      () => true,
      () => false,
    );
    if (exists) await jsm.consumers.update(this.log.stream, this.opts.consumer, settings);
    else await jsm.consumers.add(this.log.stream, { durable_name: this.opts.consumer, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All, ...settings });
    const consumer = await this.log.nc.jetstream().consumers.get(this.log.stream, this.opts.consumer);
    this.messages = await consumer.consume({ max_messages: this.opts.batchSize * 4 });
    this.receive(this.messages).catch((err) => {
      if (!this.stopping) this.opts.onFatal?.(err as Error);
    });
    this.loop = this.writeLoop();
    this.logger.info({ stream: this.log.stream, consumer: this.opts.consumer, mode: this.opts.writeMode, batchSize: this.opts.batchSize }, "write-behind worker started");
  }

  /** Backlog: entries not yet delivered plus delivered and not yet acknowledged. */
  async backlog(): Promise<number> {
    if (!this.jsm) throw new Error("the worker has not started");
    const info = await this.jsm.consumers.info(this.log.stream, this.opts.consumer);
    return info.num_pending + info.num_ack_pending;
  }

  private async receive(messages: ConsumerMessages): Promise<void> {
    for await (const m of messages) {
      if (this.held.has(m.seq)) this.metrics.redeliveries.inc();
      this.held.set(m.seq, m);
      if (this.held.size >= this.wakeAt) this.wake?.();
    }
  }

  private async writeLoop(): Promise<void> {
    while (!this.stopping) {
      if (this.held.size === 0) {
        this.wakeAt = 1;
        await new Promise<void>((r) => (this.wake = r));
      }
      // Let a batch fill up for a moment unless it already has.
      if (this.held.size < this.opts.batchSize && !this.stopping) {
        this.wakeAt = this.opts.batchSize;
        await new Promise<void>((r) => ((this.wake = r), setTimeout(r, this.opts.batchWaitMs)));
      }
      this.wake = undefined;
      const batch = [...this.held.values()].slice(0, this.opts.batchSize);
      if (batch.length === 0) continue;
      const entries: LogEntry[] = [];
      for (const m of batch) {
        try {
          entries.push({ message: decodeEntry(m.data), logSeq: m.seq });
        } catch (err) {
          // Only the log-backed store publishes here and it checks entries first; an entry
          // that does not decode cannot be written, ever. Keep it out of the way, loudly.
          this.logger.error({ err, logSeq: m.seq }, "undecodable log entry: terminated, not stored");
          this.metrics.poison.inc();
          m.term();
          this.held.delete(m.seq);
        }
      }
      if (!(await this.writeWithRetry(entries))) return;
      this.opts.afterStoreWrite?.();
      for (const { logSeq } of entries) {
        this.held.get(logSeq)?.ack();
        this.held.delete(logSeq);
      }
    }
  }

  /** Writes until the store confirms; false when the worker is stopped first. */
  private async writeWithRetry(entries: LogEntry[]): Promise<boolean> {
    let delay = 100;
    let lastProgress = Date.now();
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
        this.logger.warn({ err: (err as Error).message, entries: entries.length, retryInMs: delay }, "store write failed; entries stay in the log, retrying");
      }
      if (this.stopping) return false;
      await Bun.sleep(delay);
      delay = Math.min(delay * 2, this.opts.maxRetryDelayMs);
      // Held entries are reported in progress, so they are not redelivered to another worker meanwhile.
      if (Date.now() - lastProgress >= this.opts.ackWaitMs / 4) {
        for (const m of this.held.values()) m.working();
        lastProgress = Date.now();
      }
    }
  }

  /** Stops taking entries, finishes (or abandons, if the store is down) the batch in hand. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    await this.messages?.close();
    await this.loop;
    // Whatever is still held was never acknowledged: the log redelivers it to the next worker.
    this.held.clear();
  }
}
