// The owner of one shard: the only writer of the shard's stream while its lease holds. It assigns
// each conversation's seqs in memory, in the order appends reach it, and group-commits them: every
// message waiting when a publish slot frees goes into one envelope, so one fsync makes many
// messages durable; under saturation up to MAX_IN_FLIGHT full envelopes are in flight at once.
// Each append is resolved when the envelope holding it is acknowledged.
//
// Fencing. Every publish expects the stream's last sequence (and, when pipelined behind another
// envelope of ours, that envelope's id). A new owner first writes a marker envelope expecting the
// last sequence it read, so from then on every publish of the old owner is refused. An owner
// whose publish was refused or whose outcome is unknown stops, waits for its other publishes to
// settle, and re-reads the stream from the last point it knows: envelopes of its own it finds
// there were stored (their appends resolve), the rest were not (their seqs are given back and
// the appends queued again), and an envelope of anyone else means it was fenced: it steps down
// and hands back every append it did not store, in order, to be routed to the new owner.
//
// Recovery. A new owner reads the shard's stream from just after what the write-behind workers
// acknowledged (the ack floor: everything up to it is in the history store) to its end, which
// gives the last seq of every conversation with unflushed messages, and the client ids of those
// messages. Any other conversation's last seq is in the history store (conv_last).

import type { Logger } from "pino";
import type { CassandraHistory } from "../cassandra/history-store.ts";
import type { StoredMessage } from "../types.ts";
import type { Clock } from "../../clock.ts";
import { approxBytes, envelopeId, type Envelope } from "./envelope.ts";
import type { MessageLog } from "./message-log.ts";
import { LogUnavailableError, type Pending } from "./pending.ts";
import type { HeldLease, ShardLeases } from "./shard-lease.ts";
import { pageBounds, RecentMessages, type View, type ViewQuery } from "./views.ts";

/** Full envelopes of one shard in flight at once (a partial one goes only when none is in flight). */
export const MAX_IN_FLIGHT = 4;
/** Most messages and bytes per envelope (NATS's default max_payload is 1 MiB; a message body is at most 64 KiB). */
export const MAX_ENVELOPE_MESSAGES = 1024;
export const MAX_ENVELOPE_BYTES = 256 * 1024;
/** Conversation tails held in memory; beyond this, tails already flushed to the history store are dropped (re-read on use). */
const MAX_TAILS = 200_000;
/** Client ids remembered for duplicate detection; the oldest go first beyond this, even inside the window. */
const MAX_CIDS = 500_000;
/** Waits between attempts to re-read the log while it is unreachable. */
const RETRY_DELAYS_MS = [100, 250, 500, 1_000, 2_000];
/** Bytes of recently stored messages each owner keeps in memory by default, to answer reads of them (views.ts). */
export const RECENT_BYTES = 8 * 1024 * 1024;
/** How long resend lookups skip the history store after it failed, instead of waiting on it each time. */
const STORE_BACKOFF_MS = 1_000;

export interface ShardOwnerOptions {
  shard: number;
  log: MessageLog;
  history: CassandraHistory;
  leases: ShardLeases;
  held: HeldLease;
  /** This store instance: written into every envelope. */
  writer: string;
  /** How long client ids are remembered for duplicate detection. */
  duplicateWindowMs: number;
  /** Bytes of recently stored messages kept to answer reads. */
  recentBytes: number;
  clock: Clock;
  logger: Logger;
  /**
   * Called when this owner stops owning (fenced, lease lost, recovery failed), with every append
   * it held and did not store, in order; again for any that reach it later.
   */
  onStepDown(owner: ShardOwner, unstored: Pending[]): void;
}

interface Tail {
  /** Last seq given to a message (stored or in flight). */
  assigned: number;
  /** Last seq stored. */
  committed: number;
  /** Stream sequence of the envelope holding `committed`; 0 when it came from the history store. */
  logSeq: number;
  /** Messages of this conversation queued or in flight: while any are, the tail stays in memory. */
  pending: number;
}

interface RecentCid {
  conv: string;
  seq: number;
  /** Stream sequence of its envelope; 0 while in flight. */
  logSeq: number;
  /** Clock time after which it is forgotten. */
  expiresAt: number;
  /** While in flight: the message, and duplicates waiting for its outcome. */
  inFlight: { message: StoredMessage; waiters: Pending[] } | null;
}

interface InFlight {
  envelope: Envelope;
  pendings: Pending[];
  /** Each message's client-id key, "" for none. */
  keys: string[];
  state: "sent" | "stored" | "refused" | "unknown";
  logSeq: number;
}

const cidKey = (m: { conv: string; from: string; cid: string }) => `${m.conv}\0${m.from}\0${m.cid}`;

/** Recovery found the shard taken over by a newer owner. */
class Superseded extends Error {
  constructor() {
    super("the shard was taken over while this owner recovered it");
  }
}

export class ShardOwner {
  readonly shard: number;
  readonly epoch: number;
  /** Settles once recovery is done; appends submitted before wait for it. */
  readonly ready: Promise<void>;
  private state: "recovering" | "active" | "gone" = "recovering";
  /** No new envelopes: a publish failed (re-reading the log) or the lease was lost. */
  private halted = false;
  private leaseLost = false;
  /** Recovery read an envelope of a later epoch: someone took the shard over meanwhile. */
  private newerEpochSeen = false;
  private resyncing = false;
  private retiring = false;
  private held: HeldLease;
  private readonly queue: Pending[] = [];
  /** Approximate bytes of the queued messages. */
  private queuedBytes = 0;
  private inflight: InFlight[] = [];
  private readonly tails = new Map<string, Tail>();
  private readonly loading = new Map<string, Promise<number>>();
  private readonly cids = new Map<string, RecentCid>();
  private readonly recentMessages: RecentMessages;
  /** Client ids in the order they were remembered, for expiry. */
  private cidOrder: string[] = [];
  private cidHead = 0;
  /** The clock as of the envelope being built (or read): client ids remembered now expire a window later. */
  private now = 0;
  /** Every envelope up to this stream sequence is known (ours stored, or none of ours). */
  private confirmed = 0;
  private nextN = 1;
  private knownAckFloor = 0;
  /** Appends submitted while recovering, in order. */
  private early: Pending[] = [];
  /** Conversations whose appends wait for a history-store read, with those appends in order. */
  private readonly gates = new Map<string, Pending[]>();
  private cancelRenew: (() => void) | undefined;
  private drainedWaiters: (() => void)[] = [];
  private storeDownUntil = 0;
  /** Envelopes and messages published, publishes refused, step-downs on finding another writer's envelope, pages of reads answered from memory: for the bench and tests. */
  readonly stats = { envelopes: 0, messages: 0, refused: 0, fenced: 0, pagesFromMemory: 0 };

  constructor(private readonly o: ShardOwnerOptions) {
    this.shard = o.shard;
    this.epoch = o.held.epoch;
    this.held = o.held;
    this.recentMessages = new RecentMessages(o.recentBytes);
    // Renewed from the start: reading a long unflushed tail must not let the lease run out.
    this.scheduleRenew();
    this.ready = this.recover();
    // Failures are handled inside recover(); appends waiting on `ready` see `state`.
    this.ready.catch(() => {});
  }

  /** Whether appends and tail queries may be handed here (false once it stepped down or began retiring). */
  get accepting(): boolean {
    return this.state !== "gone" && !this.retiring;
  }

  get gone(): boolean {
    return this.state === "gone";
  }

  /**
   * Takes appends in order: a conversation's appends are assigned seqs in the order they are
   * submitted. Only a conversation's own earlier appends can hold one back (while its last seq
   * is read from the history store, or a resend is looked up there); other conversations go on.
   */
  submit(batch: Pending[]): void {
    if (this.state === "recovering") {
      this.early.push(...batch);
      return;
    }
    if (this.gone) return this.o.onStepDown(this, batch);
    this.evictTails();
    for (const p of batch) this.admit(p);
    this.pump();
  }

  /** A stored message was rewritten (MessageStore.rewrite): reads of it from memory answer the rewritten one. */
  rewrite(message: StoredMessage): void {
    this.recentMessages.rewrite(message);
  }

  /** Each conversation's last stored seq (read from the history store for those not in memory), and the page asked for if it is all in memory. */
  async views(queries: ViewQuery[]): Promise<View[]> {
    await this.ready;
    return Promise.all(
      queries.map(async (q): Promise<View> => {
        const last = this.tails.get(q.conv)?.committed ?? (await this.loadTail(q.conv));
        if (q.limit <= 0) return { last, messages: [] };
        const [low, high] = pageBounds(q, last);
        const messages = this.recentMessages.page(q.conv, low, high);
        if (messages) this.stats.pagesFromMemory++;
        return { last, messages };
      }),
    );
  }

  /**
   * Stops taking new work, finishes what it holds, and gives the lease up so that another
   * instance can take the shard at once (a clean shutdown).
   */
  async retire(): Promise<void> {
    this.retiring = true;
    await this.ready.catch(() => {});
    if (this.busy) {
      // The log unreachable would keep it busy forever: after two publish timeouts, what is left
      // is refused (its clients resend elsewhere) and the lease left to expire.
      let timer: ReturnType<typeof setTimeout> | undefined;
      const drained = await Promise.race([
        new Promise<boolean>((r) => this.drainedWaiters.push(() => r(true))),
        new Promise<boolean>((r) => (timer = setTimeout(() => r(false), 2 * this.o.log.publishTimeoutMs))),
      ]);
      clearTimeout(timer);
      if (!drained) this.abandon();
    }
    this.cancelRenew?.();
    if (this.state === "gone") return;
    this.state = "gone";
    await this.o.leases.release(this.shard, this.held).catch((err) => this.o.logger.warn({ err, shard: this.shard }, "could not release the shard lease; it expires instead"));
  }

  /** Gives up on everything held (shutdown with the log unreachable): refused, retryable. */
  private abandon(): void {
    this.state = "gone";
    const error = new LogUnavailableError("the message store closed before the log answered");
    for (const f of this.inflight) if (f.state === "sent" || f.state === "refused") for (const p of f.pendings) p.reject(error);
    for (const p of this.queue.splice(0)) p.reject(error);
    for (const held of this.gates.values()) for (const p of held.splice(0)) p.reject(error);
    this.gates.clear();
    this.inflight = [];
    this.queuedBytes = 0;
  }

  // ---- recovery ---------------------------------------------------------------------------

  private async recover(): Promise<void> {
    const { log, shard } = this.o;
    for (let attempt = 0; ; attempt++) {
      try {
        const [bounds, floor] = await Promise.all([log.bounds(shard), log.ackFloor(shard)]);
        this.knownAckFloor = floor;
        let last = bounds.last;
        await this.walkRange(Math.max(floor + 1, bounds.first), last, (env, logSeq) => this.absorb(env, logSeq));
        // The marker: from now on, every publish of an earlier owner is refused.
        for (;;) {
          // Taken over while recovering (a long read of the tail): leave the shard to the newer owner.
          if (this.leaseLost || this.newerEpochSeen) throw new Superseded();
          const marker: Envelope = { writer: this.o.writer, epoch: this.epoch, n: this.nextN++, messages: [] };
          const outcome = await log.publish(shard, marker, { lastSeq: last }).catch(() => ({ kind: "unknown" as const }));
          if (outcome.kind === "stored") {
            this.confirmed = outcome.logSeq;
            break;
          }
          // Refused: the previous owner (or our own marker, if its outcome was unknown) got in
          // first. Read what it wrote, and fence again behind it.
          const next = (await log.bounds(shard)).last;
          await this.walkRange(last + 1, next, (env, logSeq) => this.absorb(env, logSeq));
          last = next;
        }
        this.state = "active";
        this.o.logger.info({ shard, epoch: this.epoch, from: floor + 1, to: last, conversations: this.tails.size }, "took over shard");
        this.submit(this.early.splice(0));
        return;
      } catch (err) {
        if (err instanceof Superseded || attempt >= RETRY_DELAYS_MS.length - 1) {
          this.o.logger.warn({ err, shard }, "could not recover the shard from the log; giving it up");
          this.cancelRenew?.();
          this.state = "gone";
          this.o.onStepDown(this, this.early.splice(0));
          throw err;
        }
        await Bun.sleep(RETRY_DELAYS_MS[attempt]!);
      }
    }
  }

  /** Adopts an envelope read from the log: its messages' seqs and client ids. */
  private absorb(env: Envelope, logSeq: number): void {
    if (env.epoch > this.epoch) this.newerEpochSeen = true;
    this.now = this.o.clock.now();
    for (const m of env.messages) {
      const tail = this.tails.get(m.conv);
      if (tail) {
        tail.assigned = tail.committed = m.seq;
        tail.logSeq = logSeq;
      } else this.tails.set(m.conv, { assigned: m.seq, committed: m.seq, logSeq, pending: 0 });
      if (m.cid) this.remember(cidKey(m), m, logSeq, null);
      this.recentMessages.add(m);
    }
  }

  /** Walks the shard's envelopes from `from` to `to` inclusive; throws unless it got all the way. */
  private async walkRange(from: number, to: number, visit: (env: Envelope, logSeq: number) => void): Promise<void> {
    if (to < from) return;
    let seen = from - 1;
    await this.o.log.walk(this.shard, from, (env, logSeq) => {
      if (logSeq > to) return false;
      visit(env, logSeq);
      seen = logSeq;
      return logSeq < to;
    });
    if (seen < to) throw new Error(`shard ${this.shard}: the log answered up to ${seen}, not ${to}`);
  }

  // ---- intake -----------------------------------------------------------------------------

  private admit(p: Pending): void {
    const conv = p.msg.conv;
    const held = this.gates.get(conv);
    if (held) return void held.push(p);
    // A resend the memory does not know may be older: the history store's client-id key answers.
    if (!this.tails.has(conv) || this.needsLookup(p)) {
      this.gates.set(conv, [p]);
      void this.openGate(conv);
      return;
    }
    this.enqueue(p);
  }

  private needsLookup(p: Pending): boolean {
    return p.resend && p.msg.cid !== "" && !this.recent(cidKey(p.msg));
  }

  private enqueue(p: Pending): void {
    this.tails.get(p.msg.conv)!.pending++;
    this.queue.push(p);
    this.queuedBytes += approxBytes(p.msg);
  }

  /** Reads what a conversation's held appends wait for, then lets them through in order. */
  private async openGate(conv: string): Promise<void> {
    const held = this.gates.get(conv)!;
    try {
      if (!this.tails.has(conv)) await this.loadTail(conv);
    } catch (err) {
      if (this.gone) return;
      this.o.logger.warn({ err: (err as Error).message, conv }, "history store unavailable: the conversation's last seq is unknown");
      this.gates.delete(conv);
      const error = new LogUnavailableError("history store unavailable: the conversation's last seq is unknown");
      for (const p of held) p.reject(error);
      return this.checkDrained();
    }
    // Appends that arrive meanwhile join `held` and are let through in turn.
    while (held.length > 0) {
      if (this.gone) break;
      const p = held[0]!;
      const prior = this.needsLookup(p) ? await this.storedOriginal(p) : null;
      if (this.gone) break;
      held.shift();
      if (prior) p.resolve({ message: prior, duplicate: true });
      else this.enqueue(p);
    }
    // After a step-down, stepDown has handed back whatever was held here.
    if (this.gone) return;
    this.gates.delete(conv);
    this.pump();
  }

  private loadTail(conv: string): Promise<number> {
    let loading = this.loading.get(conv);
    if (!loading) {
      loading = this.o.history.tail(conv).then(
        (seq) => {
          this.loading.delete(conv);
          // An append may have created it meanwhile (only after it was loaded): keep that one.
          if (!this.tails.has(conv)) this.tails.set(conv, { assigned: seq, committed: seq, logSeq: 0, pending: 0 });
          return this.tails.get(conv)!.committed;
        },
        (err) => {
          this.loading.delete(conv);
          throw err;
        },
      );
      this.loading.set(conv, loading);
    }
    return loading;
  }

  private async storedOriginal(p: Pending): Promise<StoredMessage | null> {
    if (Date.now() < this.storeDownUntil) return null;
    try {
      return await this.o.history.byClientId(p.msg.conv, p.msg.from, p.msg.cid);
    } catch (err) {
      // The gap this leaves is documented (docs/durability.md §3): a resend older than the
      // memory of client ids, while the store is down, is stored again.
      this.storeDownUntil = Date.now() + STORE_BACKOFF_MS;
      this.o.logger.warn({ err: (err as Error).message }, "history store unavailable; resends are checked against recent client ids only");
      return null;
    }
  }

  /** Drops tails already flushed to the history store, oldest first, beyond MAX_TAILS. */
  private evictTails(): void {
    if (this.tails.size <= MAX_TAILS) return;
    for (const [conv, t] of this.tails) {
      if (this.tails.size <= MAX_TAILS * 0.9) break;
      if (t.pending === 0 && t.logSeq <= this.knownAckFloor && !this.loading.has(conv) && !this.gates.has(conv)) this.tails.delete(conv);
    }
  }

  // ---- group commit -----------------------------------------------------------------------

  /**
   * Sends the next envelope when none is in flight, or a full one while fewer than MAX_IN_FLIGHT
   * are. The stream fsyncs one envelope at a time, so a partial envelope sent behind another
   * would only cost an fsync more: waiting for the one in flight lets everything that arrives
   * meanwhile share the next one (group commit). Under saturation, full envelopes pipeline.
   */
  private pump(): void {
    while (this.state === "active" && !this.halted && this.queue.length > 0 && (this.inflight.length === 0 || (this.inflight.length < MAX_IN_FLIGHT && this.fullEnvelopeQueued()))) {
      const f = this.build();
      if (f) this.send(f);
    }
    this.checkDrained();
  }

  private fullEnvelopeQueued(): boolean {
    return this.queue.length >= MAX_ENVELOPE_MESSAGES || this.queuedBytes >= MAX_ENVELOPE_BYTES;
  }

  /** The next envelope from the head of the queue; null when every message taken was a duplicate. */
  private build(): InFlight | null {
    const messages: StoredMessage[] = [];
    const pendings: Pending[] = [];
    const keys: string[] = [];
    let bytes = 0;
    this.expireCids();
    while (this.queue.length > 0 && messages.length < MAX_ENVELOPE_MESSAGES) {
      const p = this.queue[0]!;
      const size = approxBytes(p.msg);
      if (messages.length > 0 && bytes + size > MAX_ENVELOPE_BYTES) break;
      this.queue.shift();
      this.queuedBytes -= size;
      const tail = this.tails.get(p.msg.conv)!;
      const key = p.msg.cid ? cidKey(p.msg) : "";
      if (key) {
        const hit = this.recent(key);
        if (hit) {
          tail.pending--;
          this.answerDuplicate(p, hit);
          continue;
        }
      }
      const message: StoredMessage = { ...p.msg, seq: ++tail.assigned };
      if (key) this.remember(key, message, 0, message);
      messages.push(message);
      pendings.push(p);
      keys.push(key);
      bytes += size;
    }
    if (messages.length === 0) return null;
    return { envelope: { writer: this.o.writer, epoch: this.epoch, n: this.nextN++, messages }, pendings, keys, state: "sent", logSeq: 0 };
  }

  private send(f: InFlight): void {
    // First behind a known point: the stream's last sequence alone fences. Behind an envelope of
    // ours still in flight: that one's sequence and id (message-log.ts explains why the id).
    const prev = this.inflight.at(-1);
    const expect = prev ? { lastSeq: this.confirmed + this.inflight.length, lastId: envelopeId(prev.envelope) } : { lastSeq: this.confirmed };
    this.inflight.push(f);
    this.stats.envelopes++;
    this.stats.messages += f.envelope.messages.length;
    this.o.log.publish(this.shard, f.envelope, expect).then(
      (outcome) => {
        if (outcome.kind === "stored") {
          f.state = "stored";
          f.logSeq = outcome.logSeq;
        } else {
          f.state = "refused";
          this.stats.refused++;
        }
        this.settled(f);
      },
      (err) => {
        // Unknown: it may be stored. Its senders hear now (they resend with the same client id,
        // which finds the original if it was stored); the re-read below settles its seqs.
        f.state = "unknown";
        this.o.logger.warn({ err: (err as Error).message, shard: this.shard, messages: f.envelope.messages.length }, "publish outcome unknown; re-reading the shard");
        const error = new LogUnavailableError(`message log unavailable: ${(err as Error).message}`);
        for (const p of f.pendings) p.reject(error);
        this.settled(f);
      },
    );
  }

  private settled(f: InFlight): void {
    if (f.state !== "stored") this.halted = true;
    if (!this.halted) {
      // Acks come in order; commit the stored prefix.
      while (this.inflight[0]?.state === "stored") {
        const head = this.inflight.shift()!;
        this.commit(head, head.logSeq);
        this.confirmed = head.logSeq;
      }
      this.pump();
      return;
    }
    this.resyncWhenSettled();
  }

  private resyncWhenSettled(): void {
    if (this.resyncing || this.state !== "active" || this.inflight.some((x) => x.state === "sent")) return;
    this.resyncing = true;
    void this.resync().finally(() => (this.resyncing = false));
  }

  private commit(f: InFlight, logSeq: number): void {
    const rejected = f.state === "unknown";
    const { messages } = f.envelope;
    for (let i = 0; i < messages.length; i++) {
      const m = messages[i]!;
      const tail = this.tails.get(m.conv)!;
      if (tail.committed < m.seq) tail.committed = m.seq;
      tail.logSeq = logSeq;
      tail.pending--;
      const key = f.keys[i]!;
      if (key) {
        const e = this.cids.get(key);
        if (e && e.seq === m.seq) {
          e.logSeq = logSeq;
          if (e.inFlight) for (const w of e.inFlight.waiters) w.resolve({ message: m, duplicate: true });
          e.inFlight = null;
        }
      }
      this.recentMessages.add(m);
      if (!rejected) f.pendings[i]!.resolve({ message: m, duplicate: false });
    }
  }

  /** Gives back the seqs of an envelope that was not stored; returns its appends that still wait for an outcome. */
  private rollback(f: InFlight): Pending[] {
    const error = new LogUnavailableError("message log: the append was not stored; retry with the same client id");
    f.envelope.messages.forEach((m, i) => {
      const tail = this.tails.get(m.conv)!;
      tail.assigned = tail.committed;
      tail.pending--;
      const key = f.keys[i]!;
      if (key) {
        const e = this.cids.get(key);
        if (e && e.seq === m.seq) {
          this.cids.delete(key);
          for (const w of e.inFlight?.waiters ?? []) w.reject(error);
        }
      }
    });
    return f.state === "unknown" ? [] : f.pendings;
  }

  /**
   * After a refused or unknown publish, once nothing is in flight: re-reads the shard from the
   * last known point and settles every envelope that was in flight. Continues if only our own
   * envelopes are there; steps down if anyone else's is (or the lease was lost).
   */
  private async resync(): Promise<void> {
    for (let attempt = 0; this.state !== "gone"; attempt++) {
      try {
        const { last } = await this.o.log.bounds(this.shard);
        const ours = new Map<number, number>();
        let foreign = false;
        await this.walkRange(this.confirmed + 1, last, (env, logSeq) => {
          if (env.writer === this.o.writer && env.epoch === this.epoch) ours.set(env.n, logSeq);
          else foreign = true;
        });
        const unstored: Pending[] = [];
        let gap = false;
        for (const f of this.inflight) {
          const at = ours.get(f.envelope.n);
          // Found after one that was not stored cannot happen (every later publish expects the earlier one's id).
          if (at !== undefined && !gap) this.commit(f, at);
          else {
            gap = true;
            for (const p of this.rollback(f)) unstored.push(p);
          }
        }
        this.inflight = [];
        this.confirmed = last;
        if (foreign) this.stats.fenced++;
        if (foreign || this.leaseLost) {
          this.o.logger.warn({ shard: this.shard, epoch: this.epoch, fenced: foreign }, "no longer the shard's owner; handing its appends on");
          return this.stepDown(unstored);
        }
        for (const p of unstored) {
          this.tails.get(p.msg.conv)!.pending++;
          this.queuedBytes += approxBytes(p.msg);
        }
        this.queue.unshift(...unstored);
        this.halted = false;
        this.pump();
        return;
      } catch (err) {
        // The log is unreachable: what waits hears now (its clients resend), and we try again.
        this.o.logger.warn({ err: (err as Error).message, shard: this.shard }, "cannot re-read the shard yet");
        const error = new LogUnavailableError(`message log unavailable: ${(err as Error).message}`);
        for (const f of this.inflight) {
          if (f.state === "refused") {
            for (const p of f.pendings) p.reject(error);
            f.state = "unknown";
          }
        }
        for (const p of this.queue.splice(0)) {
          this.tails.get(p.msg.conv)!.pending--;
          p.reject(error);
        }
        this.queuedBytes = 0;
        await Bun.sleep(RETRY_DELAYS_MS[Math.min(attempt, RETRY_DELAYS_MS.length - 1)]!);
      }
    }
  }

  private stepDown(unstored: Pending[]): void {
    this.state = "gone";
    this.cancelRenew?.();
    const rest = this.queue.splice(0);
    this.queuedBytes = 0;
    // A conversation's gated appends came after its queued ones; all go back in one list, in order.
    const gated: Pending[] = [];
    for (const held of this.gates.values()) gated.push(...held.splice(0));
    this.gates.clear();
    this.o.onStepDown(this, [...unstored, ...rest, ...gated]);
    this.checkDrained();
  }

  // ---- duplicates -------------------------------------------------------------------------

  private remember(key: string, m: StoredMessage, logSeq: number, inFlight: StoredMessage | null): void {
    this.cids.set(key, { conv: m.conv, seq: m.seq, logSeq, expiresAt: this.now + this.o.duplicateWindowMs, inFlight: inFlight ? { message: inFlight, waiters: [] } : null });
    this.cidOrder.push(key);
  }

  /** The remembered client id, unless its window has passed. */
  private recent(key: string): RecentCid | undefined {
    const e = this.cids.get(key);
    if (e && e.inFlight === null && e.expiresAt <= this.o.clock.now()) {
      this.cids.delete(key);
      return undefined;
    }
    return e;
  }

  private expireCids(): void {
    const now = (this.now = this.o.clock.now());
    while (this.cidHead < this.cidOrder.length) {
      const key = this.cidOrder[this.cidHead]!;
      const e = this.cids.get(key);
      if (e && e.inFlight === null && (e.expiresAt <= now || this.cids.size > MAX_CIDS)) this.cids.delete(key);
      else if (e) break;
      this.cidHead++;
    }
    if (this.cidHead > 4096 && this.cidHead * 2 > this.cidOrder.length) {
      this.cidOrder = this.cidOrder.slice(this.cidHead);
      this.cidHead = 0;
    }
  }

  private answerDuplicate(p: Pending, hit: RecentCid): void {
    if (hit.inFlight) return void hit.inFlight.waiters.push(p);
    this.o.log.get(this.shard, hit.logSeq).then(
      (env) => {
        const original = env?.messages.find((m) => m.conv === hit.conv && m.seq === hit.seq);
        if (original) p.resolve({ message: original, duplicate: true });
        else p.reject(new LogUnavailableError("the original of this client id is no longer in the log"));
      },
      (err) => p.reject(new LogUnavailableError(`message log unavailable: ${(err as Error).message}`)),
    );
  }

  // ---- lease ------------------------------------------------------------------------------

  private scheduleRenew(): void {
    this.cancelRenew = this.o.clock.after(this.o.leases.ttlMs / 3, () => void this.renew());
  }

  private async renew(): Promise<void> {
    if (this.state === "gone") return;
    try {
      const renewed = await this.o.leases.renew(this.shard, this.held);
      if (renewed === "lost") {
        this.o.logger.warn({ shard: this.shard, epoch: this.epoch }, "shard lease taken over");
        this.leaseLost = true;
        this.halted = true;
        this.resyncWhenSettled();
        return;
      }
      this.held = renewed;
      this.knownAckFloor = await this.o.log.ackFloor(this.shard).catch(() => this.knownAckFloor);
    } catch (err) {
      // NATS unreachable: keep the lease as it is; the stream fences us if someone takes it meanwhile.
      this.o.logger.warn({ err: (err as Error).message, shard: this.shard }, "could not renew the shard lease; retrying");
    }
    if (!this.gone) this.scheduleRenew();
  }

  // ---- drain ------------------------------------------------------------------------------

  private get busy(): boolean {
    return this.state !== "gone" && (this.queue.length > 0 || this.inflight.length > 0 || this.gates.size > 0 || this.early.length > 0);
  }

  private checkDrained(): void {
    if (this.busy || this.drainedWaiters.length === 0) return;
    const waiters = this.drainedWaiters;
    this.drainedWaiters = [];
    for (const w of waiters) w();
  }
}
