// MessageStore for cluster mode (backends.messages = "jetstream"): a send is acknowledged once its
// message is in the JetStream log; write-behind workers (src/worker) copy the log into Cassandra
// or ScyllaDB. Reads come from the history store, and whatever it does not hold yet (acked, not
// flushed) is read through from the log, so history and resume never miss an acked message.
//
// Ordering across nodes. Each conversation is one log subject. A node appends to it with
// seq = last seq + 1, fenced by Nats-Expected-Last-Subject-Sequence = the stream sequence of
// that last entry: if any other writer (another node's actor for the same conversation, or a
// stale one) appended in between, the stream refuses the publish, and this node re-reads the
// tail and retries with the next seq. The stream applies publishes one at a time, so exactly one
// of two racing writers wins each seq: seqs are contiguous and every device sees one order.
// Within a node, a conversation's appends run one at a time, in call order.

import type { Logger } from "pino";
import type { CassandraHistory, Rewrite } from "../cassandra/history-store.ts";
import type { AppendOptions, AppendResult, MessageStore, NewMessage, StoredMessage } from "../types.ts";
import type { LogEntry, MessageLog } from "./message-log.ts";

/** Conversation tails remembered between appends; beyond this the oldest are re-read on use. */
const MAX_TAILS = 100_000;
/** A conversation whose tail keeps moving under us this often is refused (retryable) rather than spun on. */
const MAX_CONFLICTS = 200;
/** After a lost race, wait up to this long (random, growing) so that racing writers take turns instead of colliding again. */
const MAX_CONFLICT_BACKOFF_MS = 20;
/** Queued appends whose client ids are looked up in the store together. */
const LOOKUP_CHUNK = 256;
/** How long reads skip the history store after it failed, instead of waiting on it each time. */
const STORE_BACKOFF_MS = 1_000;

interface Tail {
  seq: number;
  /** Stream sequence of the conversation's last entry; 0 when the log holds none. */
  logSeq: number;
}

interface Pending {
  msg: NewMessage;
  resend: boolean;
  resolve(result: AppendResult): void;
  reject(err: Error): void;
}

/** `m` with what a rewrite set, if any (the fields it leaves out are gone). */
function applyRewrite(m: StoredMessage, r: Rewrite | undefined): StoredMessage {
  if (!r) return m;
  const { media: _media, ref: _ref, edited: _edited, ...rest } = m;
  return { ...rest, ...r };
}

/** Refuses what the store could not write: such an entry would sit at the head of the log forever. */
function checkStorable(msg: NewMessage): void {
  if (!(msg.body instanceof Uint8Array) || typeof msg.id !== "bigint" || typeof msg.conv !== "string" || !Number.isFinite(msg.ts)) {
    throw new TypeError("message is not storable: body must be bytes, id a bigint, ts a number");
  }
}

export class LogBackedMessageStore implements MessageStore {
  /** Retention is the rows' TTL, set when the worker writes them (storage.retentionSeconds). */
  readonly prunes = false;
  private readonly queues = new Map<string, Pending[]>();
  private readonly pumps = new Set<Promise<void>>();
  private readonly tails = new Map<string, Tail>();
  private storeDownUntil = 0;
  /** Publishes the fence refused because another writer appended first (read by the bench). */
  fenceConflicts = 0;

  constructor(
    private readonly log: MessageLog,
    private readonly store: CassandraHistory,
    private readonly logger: Logger,
  ) {}

  append(msg: NewMessage, opts: AppendOptions = {}): Promise<AppendResult> {
    return new Promise((resolve, reject) => {
      const pending = { msg, resend: opts.resend === true, resolve, reject };
      const queue = this.queues.get(msg.conv);
      if (queue) return void queue.push(pending);
      this.queues.set(msg.conv, [pending]);
      const pump = this.pump(msg.conv).finally(() => this.pumps.delete(pump));
      this.pumps.add(pump);
    });
  }

  private async pump(conv: string): Promise<void> {
    const queue = this.queues.get(conv)!;
    while (queue.length > 0) {
      // A resend later than the log's duplicate window: the store's client-id key still knows
      // it. Only for messages the client marks as resent, so first sends never wait on the
      // store; looked up for the queued chunk at once. Skipped while the store is down (the
      // log's duplicate window still covers recent resends).
      const chunk = queue.slice(0, LOOKUP_CHUNK);
      const priors = await Promise.all(chunk.map(({ msg, resend }) => (resend && msg.cid ? this.fromStore(() => this.store.byClientId(msg.conv, msg.from, msg.cid), null) : null)));
      for (let i = 0; i < chunk.length; i++) {
        const p = queue[0]!;
        const prior = priors[i];
        try {
          p.resolve(prior ? { message: prior, duplicate: true } : await this.appendOne(p.msg));
        } catch (err) {
          p.reject(err as Error);
        }
        queue.shift();
      }
    }
    this.queues.delete(conv);
  }

  private async appendOne(msg: NewMessage): Promise<AppendResult> {
    checkStorable(msg);
    for (let conflicts = 0; conflicts < MAX_CONFLICTS; conflicts++) {
      const tail = this.tails.get(msg.conv) ?? (await this.readTail(msg.conv));
      const message: StoredMessage = { ...msg, seq: tail.seq + 1 };
      let outcome;
      try {
        outcome = await this.log.publish(message, tail.logSeq);
      } catch (err) {
        // A timed-out publish may still have been stored: forget the tail, re-read it next time.
        this.tails.delete(msg.conv);
        throw err;
      }
      if (outcome.kind === "stored") {
        this.remember(msg.conv, { seq: message.seq, logSeq: outcome.logSeq });
        return { message, duplicate: false };
      }
      if (outcome.kind === "duplicate") return { message: outcome.original.message, duplicate: true };
      this.tails.delete(msg.conv);
      this.fenceConflicts++;
      await Bun.sleep(Math.random() * Math.min(MAX_CONFLICT_BACKOFF_MS, 2 ** conflicts));
    }
    throw new Error(`conversation ${msg.conv}: the log tail moved ${MAX_CONFLICTS} times in a row`);
  }

  private remember(conv: string, tail: Tail): void {
    this.tails.delete(conv);
    this.tails.set(conv, tail);
    if (this.tails.size > MAX_TAILS) this.tails.delete(this.tails.keys().next().value!);
  }

  /**
   * The conversation's last seq and its fence, from the log; from the store when the log aged it
   * out. Disappearing messages leave both by TTL: the store's sender_last rows, which never
   * expire, still know the highest seq, so it is never handed out again.
   */
  private async readTail(conv: string): Promise<Tail> {
    const last = await this.log.last(conv);
    if (last) return { seq: last.message.seq, logSeq: last.logSeq };
    const [newest, highest] = await Promise.all([this.store.newestBelow(conv), this.store.highestSeq(conv)]);
    return { seq: Math.max(newest?.message.seq ?? 0, highest), logSeq: 0 };
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

  async lastSeq(conv: string): Promise<number> {
    return (await this.readTail(conv)).seq;
  }

  async firstRetainedSeq(conv: string): Promise<number> {
    const [stored, logged] = await Promise.all([this.fromStore(() => this.store.oldestSeq(conv), null), this.firstLogged(conv)]);
    const first = Math.min(stored ?? Infinity, logged ?? Infinity);
    return Number.isFinite(first) ? first : (await this.lastSeq(conv)) + 1;
  }

  private async firstLogged(conv: string): Promise<number | null> {
    let first: number | null = null;
    await this.log.walk(conv, 1, (e) => ((first = e.message.seq), false), 1);
    return first;
  }

  async range(conv: string, afterSeq: number, limit: number): Promise<StoredMessage[]> {
    if (limit <= 0) return [];
    const upTo = Math.min(afterSeq + limit, await this.lastSeq(conv));
    if (upTo <= afterSeq) return [];
    const rewrites = new Map<number, Rewrite>();
    const stored = await this.fromStore(() => this.store.range(conv, afterSeq, upTo, limit, rewrites), []);
    return (await this.readThrough(conv, afterSeq + 1, upTo, stored, rewrites)).sort((a, b) => a.seq - b.seq);
  }

  async history(conv: string, beforeSeq: number, limit: number): Promise<StoredMessage[]> {
    if (limit <= 0) return [];
    const top = Math.min(beforeSeq - 1, await this.lastSeq(conv));
    const bottom = Math.max(1, top - limit + 1);
    if (top < bottom) return [];
    const rewrites = new Map<number, Rewrite>();
    const stored = await this.fromStore(() => this.store.history(conv, top + 1, bottom, limit, rewrites), []);
    return (await this.readThrough(conv, bottom, top, stored, rewrites)).sort((a, b) => b.seq - a.seq);
  }

  /**
   * Seqs `from`..`to`: `stored` (what the store has of them), the rest from the log, unordered.
   * The walk through the log starts just after the newest stored entry below the first missing
   * seq (its stream sequence is in the row), so it reads little more than the missing entries.
   * Seqs in neither were pruned. What the log holds is the message as sent: `rewrites` (edits,
   * deletions for everyone made before the worker wrote the row) apply over it.
   */
  private async readThrough(conv: string, from: number, to: number, stored: LogEntry[], rewrites: Map<number, Rewrite>): Promise<StoredMessage[]> {
    const have = new Map(stored.map((e) => [e.message.seq, e]));
    const missing = new Set<number>();
    for (let seq = from; seq <= to; seq++) if (!have.has(seq)) missing.add(seq);
    if (missing.size > 0) {
      const ascending = [...missing];
      const lowest = ascending[0]!;
      const highest = ascending.at(-1)!;
      let anchor = 0;
      for (const e of stored) if (e.message.seq < lowest && e.logSeq > anchor) anchor = e.logSeq;
      if (anchor === 0) anchor = (await this.fromStore(() => this.store.newestBelow(conv, lowest), null))?.logSeq ?? 0;
      await this.log.walk(conv, anchor + 1, (e) => {
        if (missing.has(e.message.seq)) have.set(e.message.seq, e);
        return e.message.seq < highest;
      });
    }
    return [...have.values()].map((e) => applyRewrite(e.message, rewrites.get(e.message.seq)));
  }

  async lastSeqBySender(conv: string): Promise<Map<string, number>> {
    const [bySender, newest] = await Promise.all([
      this.fromStore(() => this.store.senderLast(conv), new Map<string, number>()),
      this.fromStore(() => this.store.newestBelow(conv), null),
    ]);
    // The unflushed tail (all of the log when the store is down) may hold newer messages.
    await this.log.walk(conv, (newest?.logSeq ?? 0) + 1, ({ message: m }) => {
      if (m.from && (bySender.get(m.from) ?? 0) < m.seq) bySender.set(m.from, m.seq);
      return true;
    });
    return bySender;
  }

  /** Retention is by TTL (see `prunes`): nothing to delete here. */
  async pruneBefore(): Promise<number> {
    return 0;
  }

  /** Disappearing messages expire by TTL too: the rows' and the log entries' own (docs/durability.md). */
  async pruneExpired(): Promise<number> {
    return 0;
  }

  /**
   * In the history store only: the log's entries cannot be changed (a message deleted for
   * everyone stays in the log until jetstream.maxAgeSeconds, docs/durability.md); reads apply
   * the rewrite over what they take from the log.
   */
  async rewrite(message: StoredMessage): Promise<void> {
    await this.store.rewrite(message);
  }

  async flush(): Promise<void> {
    while (this.pumps.size > 0) await Promise.allSettled([...this.pumps]);
  }

  async close(): Promise<void> {
    await this.flush();
    await Promise.all([this.log.close(), this.store.close()]);
  }
}
