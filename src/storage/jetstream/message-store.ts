// MessageStore for cluster mode (backends.messages = "jetstream"): a send is acknowledged once
// its message is in the JetStream log; write-behind workers (src/worker) copy the log into
// Cassandra or ScyllaDB. Reads ask the conversation's shard owner first: it knows the last seq,
// and holds the most recent messages in memory. Anything older comes from the history store, and
// whatever that does not hold yet (acked, not flushed) is read through from the log, so history
// and resume never miss an acked message.
//
// Writes (shard-writers.ts, shard-owner.ts): conversations are hashed to shards, each a stream of
// its own with one owner among the edges; the owner assigns seqs in memory and group-commits
// many messages per envelope (one JetStream message, one fsync), several envelopes in flight.
// The other edges forward their appends to it. docs/durability.md explains the fencing and the
// failure cases.

import type { Logger } from "pino";
import type { CassandraHistory } from "../cassandra/history-store.ts";
import type { AppendOptions, AppendResult, MessageStore, NewMessage, StoredMessage } from "../types.ts";
import { systemClock, type Clock } from "../../clock.ts";
import { applyRewrite, checkStorable, type Envelope, type LogEntry, type Rewrite } from "./envelope.ts";
import type { MessageLog } from "./message-log.ts";
import { RECENT_BYTES } from "./shard-owner.ts";
import { ShardWriters, type WriterStats } from "./shard-writers.ts";
import type { View, ViewQuery } from "./views.ts";

/** How long reads skip the history store after it failed, instead of waiting on it each time. */
const STORE_BACKOFF_MS = 1_000;
/** A conversation of at most this many messages, all held by its owner, is read whole from the owner. */
const WHOLE_FROM_OWNER = 256;
/** How long a shard's ack floor is reused before it is asked again (an older, lower one only makes a walk start earlier). */
const ACK_FLOOR_TTL_MS = 1_000;

export interface LogBackedStoreOptions {
  /** Names this instance in leases and envelopes. */
  name: string;
  /** jetstream.leaseTtlMs. */
  leaseTtlMs: number;
  /** jetstream.duplicateWindowSeconds, in ms. */
  duplicateWindowMs: number;
  /** Tests inject one to expire leases on demand. */
  clock?: Clock;
  /** Bytes of recent messages each shard owner here keeps to answer reads (default 8 MiB); tests set 0 to read through the store and the log. */
  recentBytes?: number;
}

export class LogBackedMessageStore implements MessageStore {
  /** Retention is the rows' TTL, set when the worker writes them (storage.retentionSeconds). */
  readonly prunes = false;
  readonly writers: ShardWriters;
  private readonly ackFloors = new Map<number, { at: number; value: Promise<number> }>();
  /** Reads of one shard made together, asked of its owner in one request. */
  private readonly viewQueries = new Map<number, { query: ViewQuery; resolve: (view: View | null) => void }[]>();
  private storeDownUntil = 0;

  constructor(
    private readonly log: MessageLog,
    private readonly store: CassandraHistory,
    private readonly logger: Logger,
    opts: LogBackedStoreOptions,
  ) {
    this.writers = new ShardWriters({ log, history: store, name: opts.name, leaseTtlMs: opts.leaseTtlMs, duplicateWindowMs: opts.duplicateWindowMs, recentBytes: opts.recentBytes ?? RECENT_BYTES, clock: opts.clock ?? systemClock, logger });
  }

  append(msg: NewMessage, opts: AppendOptions = {}): Promise<AppendResult> {
    try {
      checkStorable(msg);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.writers.append(msg, opts.resend === true);
  }

  /** Envelopes and messages published, publishes refused, batches forwarded, shards taken over. */
  stats(): WriterStats {
    return this.writers.stats();
  }

  // ---- reads ------------------------------------------------------------------------------

  async lastSeq(conv: string): Promise<number> {
    const shard = this.log.layout.shardOf(conv);
    return (await this.ownerView(shard, { conv, from: 0, limit: 0, desc: false }))?.last ?? (await this.tailFromStoreAndLog(shard, conv));
  }

  /** The owner's view (views.ts), asked together with the other reads of this shard in this tick; null when no owner answers. */
  private ownerView(shard: number, query: ViewQuery): Promise<View | null> {
    return new Promise((resolve) => {
      let batch = this.viewQueries.get(shard);
      if (!batch) {
        this.viewQueries.set(shard, (batch = []));
        const asked = batch;
        queueMicrotask(() => {
          this.viewQueries.delete(shard);
          this.writers.views(shard, asked.map((a) => a.query)).then(
            (views) => asked.forEach((a, i) => a.resolve(views?.[i] ?? null)),
            () => asked.forEach((a) => a.resolve(null)),
          );
        });
      }
      batch.push({ query, resolve });
    });
  }

  /** Without a live owner: the history store's last seq, or the newest the unflushed log holds. */
  private async tailFromStoreAndLog(shard: number, conv: string): Promise<number> {
    const [stored, floor] = await Promise.all([this.fromStore(() => this.store.tail(conv), 0), this.ackFloor(shard)]);
    let last = stored;
    await this.log.walk(shard, floor + 1, (env) => {
      for (const m of env.messages) if (m.conv === conv && m.seq > last) last = m.seq;
      return true;
    });
    return last;
  }

  async firstRetainedSeq(conv: string): Promise<number> {
    // The owner holds seq 1 (or the conversation is empty): nothing was pruned.
    const view = await this.ownerView(this.log.layout.shardOf(conv), { conv, from: 0, limit: 1, desc: false });
    if (view?.messages && (view.messages.length > 0 || view.last === 0)) return 1;
    const stored = await this.fromStore(() => this.store.oldestSeq(conv), null);
    if (stored === 1) return 1;
    const shard = this.log.layout.shardOf(conv);
    let logged: number | null = null;
    await this.log.walk(shard, (await this.ackFloor(shard)) + 1, (env) => {
      const m = env.messages.find((x) => x.conv === conv);
      if (m) logged = m.seq;
      return !m;
    });
    const first = Math.min(stored ?? Infinity, logged ?? Infinity);
    return Number.isFinite(first) ? first : (await this.lastSeq(conv)) + 1;
  }

  async range(conv: string, afterSeq: number, limit: number): Promise<StoredMessage[]> {
    if (limit <= 0) return [];
    const shard = this.log.layout.shardOf(conv);
    const view = await this.ownerView(shard, { conv, from: afterSeq, limit, desc: false });
    if (view?.messages) return view.messages;
    const upTo = Math.min(afterSeq + limit, view?.last ?? (await this.tailFromStoreAndLog(shard, conv)));
    if (upTo <= afterSeq) return [];
    const rewrites = new Map<number, Rewrite>();
    const stored = await this.fromStore(() => this.store.range(conv, afterSeq, upTo, limit, rewrites), []);
    return (await this.readThrough(conv, afterSeq + 1, upTo, stored, rewrites)).sort((a, b) => a.seq - b.seq);
  }

  async history(conv: string, beforeSeq: number, limit: number): Promise<StoredMessage[]> {
    if (limit <= 0) return [];
    const shard = this.log.layout.shardOf(conv);
    const view = await this.ownerView(shard, { conv, from: beforeSeq, limit, desc: true });
    if (view?.messages) return view.messages.slice().reverse();
    const top = Math.min(beforeSeq - 1, view?.last ?? (await this.tailFromStoreAndLog(shard, conv)));
    const bottom = Math.max(1, top - limit + 1);
    if (top < bottom) return [];
    const rewrites = new Map<number, Rewrite>();
    const stored = await this.fromStore(() => this.store.history(conv, top + 1, bottom, limit, rewrites), []);
    return (await this.readThrough(conv, bottom, top, stored, rewrites)).sort((a, b) => b.seq - a.seq);
  }

  /**
   * Seqs `from`..`to`: `stored` (what the store has of them), the rest from the log, unordered.
   * The walk through the shard's log starts at the envelope of the newest stored message below
   * the first missing seq (its stream sequence is in the row), and never before the workers' ack
   * floor (everything up to it is in the store, so what the store lacks there has expired).
   * Seqs in neither were pruned. The log holds messages as sent: `rewrites` (edits, deletions
   * for everyone made before the worker wrote the row) apply over what is taken from it.
   */
  private async readThrough(conv: string, from: number, to: number, stored: LogEntry[], rewrites: Map<number, Rewrite>): Promise<StoredMessage[]> {
    const have = new Map(stored.map((e) => [e.message.seq, e.message]));
    const missing = new Set<number>();
    for (let seq = from; seq <= to; seq++) if (!have.has(seq)) missing.add(seq);
    if (missing.size > 0) {
      const lowest = Math.min(...missing);
      const highest = Math.max(...missing);
      let anchor = 0;
      for (const e of stored) if (e.message.seq < lowest && e.logSeq > anchor) anchor = e.logSeq;
      const shard = this.log.layout.shardOf(conv);
      const [below, floor] = await Promise.all([anchor === 0 ? this.fromStore(() => this.store.newestBelow(conv, lowest), null) : null, this.ackFloor(shard)]);
      anchor ||= below?.logSeq ?? 0;
      await this.log.walk(shard, Math.max(anchor, floor + 1), (env) => this.collect(env, conv, (m) => (missing.has(m.seq) && have.set(m.seq, applyRewrite(m, rewrites.get(m.seq))), m.seq < highest)));
    }
    return [...have.values()];
  }

  /** Calls `take` with each message of `conv` in the envelope while it returns true; false when it stopped. */
  private collect(env: Envelope, conv: string, take: (m: StoredMessage) => boolean): boolean {
    for (const m of env.messages) if (m.conv === conv && !take(m)) return false;
    return true;
  }

  async lastSeqBySender(conv: string): Promise<Map<string, number>> {
    const shard = this.log.layout.shardOf(conv);
    // A new or short conversation whose whole history the owner holds (every conversation actor
    // asks this when it starts, most often for a conversation just created): no store read.
    const view = await this.ownerView(shard, { conv, from: 0, limit: WHOLE_FROM_OWNER, desc: false });
    if (view?.messages && view.last <= WHOLE_FROM_OWNER) {
      const fromOwner = new Map<string, number>();
      for (const m of view.messages) if (m.from) fromOwner.set(m.from, m.seq);
      return fromOwner;
    }
    const [bySender, newest, floor] = await Promise.all([
      this.fromStore(() => this.store.senderLast(conv), new Map<string, number>()),
      this.fromStore(() => this.store.newestBelow(conv), null),
      this.ackFloor(shard),
    ]);
    // The unflushed tail may hold newer messages.
    await this.log.walk(shard, Math.max(newest?.logSeq ?? 0, floor + 1), (env) =>
      this.collect(env, conv, (m) => {
        if (m.from && (bySender.get(m.from) ?? 0) < m.seq) bySender.set(m.from, m.seq);
        return true;
      }),
    );
    return bySender;
  }

  /** What the workers acknowledged in a shard's stream, reused for a second. */
  private ackFloor(shard: number): Promise<number> {
    const cached = this.ackFloors.get(shard);
    if (cached && Date.now() - cached.at < ACK_FLOOR_TTL_MS) return cached.value;
    const value = this.log.ackFloor(shard).catch(() => 0);
    this.ackFloors.set(shard, { at: Date.now(), value });
    return value;
  }

  /** Runs a history-store read; answers `fallback` (and skips the store for a moment) when it fails. */
  private async fromStore<T>(read: () => Promise<T>, fallback: T): Promise<T> {
    if (Date.now() < this.storeDownUntil) return fallback;
    try {
      return await read();
    } catch (err) {
      this.storeDownUntil = Date.now() + STORE_BACKOFF_MS;
      this.logger.warn({ err }, "history store unavailable; reading from the log alone");
      return fallback;
    }
  }

  /** Retention is by TTL (see `prunes`): nothing to delete here. */
  async pruneBefore(): Promise<number> {
    return 0;
  }

  /** Disappearing messages expire by TTL: the rows' own, set by the worker (docs/durability.md §11). */
  async pruneExpired(): Promise<number> {
    return 0;
  }

  /**
   * In the history store, and in the memory of the shard's owner (which answers reads of recent
   * messages). The log's envelopes cannot be changed: a message deleted for everyone stays in
   * the log until jetstream.maxAgeSeconds (docs/durability.md §11); reads apply the rewrite over
   * what they take from the log. Appends issued here before are committed first, so that the
   * owner holds the message when it is told (a rewrite follows the append of its message).
   */
  async rewrite(message: StoredMessage): Promise<void> {
    await this.store.rewrite(message);
    await this.writers.flush();
    await this.writers.rewrite(this.log.layout.shardOf(message.conv), message);
  }

  flush(): Promise<void> {
    return this.writers.flush();
  }

  async close(): Promise<void> {
    await this.flush();
    await this.writers.close();
    await Promise.all([this.log.close(), this.store.close()]);
  }
}
