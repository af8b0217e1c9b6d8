// The write side of the log-backed store in one process: every append goes to its conversation's
// shard, and each shard has one owner among the store instances (edges) of the cluster, chosen
// by a lease (shard-lease.ts). Appends to a shard this instance owns go to its ShardOwner; the
// others are forwarded to the owner over NATS request/reply (shard-rpc.ts) in batches that keep
// their call order. A shard nobody owns, or whose owner stopped answering for a whole lease TTL,
// is taken over by the first instance that needs to append to it.
//
// This instance also serves the other instances' requests for the shards it owns.

import type { Msg, NatsConnection, NatsError, Subscription } from "nats";
import type { Logger } from "pino";
import type { CassandraHistory } from "../cassandra/history-store.ts";
import type { AppendResult, NewMessage, StoredMessage } from "../types.ts";
import type { Clock } from "../../clock.ts";
import { approxBytes, checkStorable } from "./envelope.ts";
import type { MessageLog } from "./message-log.ts";
import { LogUnavailableError, type Pending } from "./pending.ts";
import { MAX_ENVELOPE_BYTES, MAX_ENVELOPE_MESSAGES, ShardOwner } from "./shard-owner.ts";
import { ShardLeases, type ObservedLease } from "./shard-lease.ts";
import { decodeOutcome, decodeReply, decodeRequest, decodeViews, encodeAppend, encodeReply, encodeRewrite, encodeViewReply, encodeViews, Op, Outcome, Status, type AppendOutcome } from "./shard-rpc.ts";
import type { View, ViewQuery } from "./views.ts";

export interface ShardWritersOptions {
  log: MessageLog;
  history: CassandraHistory;
  /** Names this instance in leases and envelopes (a random suffix makes it unique per start). */
  name: string;
  leaseTtlMs: number;
  duplicateWindowMs: number;
  recentBytes: number;
  clock: Clock;
  logger: Logger;
}

interface Queued extends Pending {
  /** Wall-clock ms when it was appended: one that cannot be routed for publishTimeoutMs is refused. */
  since: number;
  /** flush() calls waiting for its outcome. */
  flushed?: (() => void)[];
}

const NO_RESPONDERS = "503";
/** Batches of one shard forwarded to its owner and not yet answered. */
const MAX_FORWARDS = 4;

/** What a forwarded batch left to route again, and whether the owner is gone or changed. */
interface Forwarded {
  again: Queued[];
  redirect: boolean;
}

/** Counts for the bench and tests. */
export interface WriterStats {
  envelopes: number;
  messages: number;
  /** Publishes the stream refused (another writer, or an earlier publish of ours that failed). */
  refused: number;
  /** Owners here that stepped down on finding another writer's envelope in their stream. */
  fenced: number;
  /** Batches forwarded to another instance's owner. */
  forwarded: number;
  /** Shards this instance took over. */
  takeovers: number;
  /** Pages of reads (from any instance) the owners here answered from memory. */
  pagesFromMemory: number;
}

export class ShardWriters {
  readonly instance: string;
  readonly leases: ShardLeases;
  private readonly owners = new Map<number, ShardOwner>();
  /** Appends made here without an outcome yet. */
  private readonly unsettled = new Set<Queued>();
  private readonly routes = new Map<number, ShardRoute>();
  private readonly sub: Subscription;
  /** Forwarded batches, takeovers, and what owners that stepped down here had published. */
  readonly counts: WriterStats = { envelopes: 0, messages: 0, refused: 0, fenced: 0, forwarded: 0, takeovers: 0, pagesFromMemory: 0 };
  private closed = false;

  constructor(readonly o: ShardWritersOptions) {
    this.instance = `${o.name.replace(/[^A-Za-z0-9_-]/g, "_")}-${crypto.randomUUID().slice(0, 8)}`;
    const subject = o.log.layout.ownerSubject(this.instance);
    this.leases = new ShardLeases(o.log.leases, o.log.layout, this.instance, subject, o.leaseTtlMs, o.clock);
    // Subscribed before any lease names this subject (the lease is written later, on the same connection).
    this.sub = o.log.nc.subscribe(subject, { callback: (err, msg) => (err ? undefined : void this.serve(msg)) });
  }

  get nc(): NatsConnection {
    return this.o.log.nc;
  }

  append(msg: NewMessage, resend: boolean): Promise<AppendResult> {
    if (this.closed) return Promise.reject(new LogUnavailableError("the message store is closed"));
    return new Promise((resolve, reject) => {
      const q: Queued = {
        msg,
        resend,
        since: Date.now(),
        resolve: (r) => {
          this.settled(q);
          resolve(r);
        },
        reject: (err) => {
          this.settled(q);
          reject(err);
        },
      };
      this.unsettled.add(q);
      this.route(this.o.log.layout.shardOf(msg.conv)).push(q);
    });
  }

  private settled(q: Queued): void {
    if (!this.unsettled.delete(q)) return;
    if (q.flushed) for (const f of q.flushed) f();
  }

  /** Resolves when every append made so far has its outcome. */
  async flush(): Promise<void> {
    await Promise.all([...this.unsettled].map((q) => new Promise<void>((r) => (q.flushed ??= []).push(r))));
  }

  /** The active owner here of a shard, if this instance owns it. */
  ownerOf(shard: number): ShardOwner | undefined {
    const owner = this.owners.get(shard);
    return owner?.accepting ? owner : undefined;
  }

  /**
   * Conversations of one shard as their owner sees them (views.ts), from whichever instance owns
   * the shard; null when no owner answers (the caller reads the history store and the log instead).
   */
  async views(shard: number, queries: ViewQuery[]): Promise<View[] | null> {
    const owner = this.ownerOf(shard);
    if (owner) return owner.views(queries);
    // The lease as last seen first (no round trip); read afresh once if that owner does not answer.
    let lease = this.leases.peek(shard);
    for (let attempt = 0; attempt < 2; attempt++) {
      if (!lease || attempt > 0) lease = await this.leases.read(shard).catch(() => undefined);
      if (!lease?.value || lease.value.released || lease.value.owner === this.instance) {
        if (attempt === 0) continue;
        return null;
      }
      try {
        const reply = await this.nc.request(lease.value.subject, encodeViews(shard, queries), { timeout: this.o.log.publishTimeoutMs });
        const { status, body } = decodeReply<[number, StoredMessage[] | null][]>(reply.data);
        if (status === Status.Done) return decodeViews(body);
      } catch {
        // No owner there any more, or it did not answer: ask the lease again.
      }
    }
    return null;
  }

  /**
   * Tells the shard's owner, wherever it is, that a message was rewritten, so that it answers
   * reads of it as rewritten. Without an owner there is nothing to tell: a new owner's memory is
   * filled from the log afterwards (docs/durability.md §11 says what that means for edits).
   */
  async rewrite(shard: number, message: StoredMessage): Promise<void> {
    const owner = this.ownerOf(shard);
    if (owner) return owner.rewrite(message);
    let lease = this.leases.peek(shard);
    for (let attempt = 0; attempt < 2; attempt++) {
      if (!lease || attempt > 0) lease = await this.leases.read(shard).catch(() => undefined);
      if (!lease?.value || lease.value.released || lease.value.owner === this.instance) {
        if (attempt === 0) continue;
        return;
      }
      try {
        const reply = await this.nc.request(lease.value.subject, encodeRewrite(shard, message), { timeout: this.o.log.publishTimeoutMs });
        if (decodeReply(reply.data).status === Status.Done) return;
      } catch {
        // No owner there any more, or it did not answer: ask the lease again.
      }
    }
  }

  stats(): WriterStats {
    const s = { ...this.counts };
    for (const owner of this.owners.values()) {
      s.envelopes += owner.stats.envelopes;
      s.messages += owner.stats.messages;
      s.refused += owner.stats.refused;
      s.fenced += owner.stats.fenced;
      s.pagesFromMemory += owner.stats.pagesFromMemory;
    }
    return s;
  }

  /** Finishes what the owners here hold and gives their leases up, so that other instances take the shards at once. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.owners.values()].map((owner) => owner.retire()));
    this.sub.unsubscribe();
    for (const r of this.routes.values()) r.stop();
  }

  private route(shard: number): ShardRoute {
    let r = this.routes.get(shard);
    if (!r) this.routes.set(shard, (r = new ShardRoute(this, shard)));
    return r;
  }

  /** Becomes the shard's owner if its lease can be had; the new owner recovers the shard before it takes appends. */
  async tryOwn(shard: number): Promise<ShardOwner | undefined> {
    const held = await this.leases.tryAcquire(shard);
    if (!held) return undefined;
    const owner = new ShardOwner({
      shard,
      held,
      log: this.o.log,
      history: this.o.history,
      leases: this.leases,
      writer: this.instance,
      duplicateWindowMs: this.o.duplicateWindowMs,
      recentBytes: this.o.recentBytes,
      clock: this.o.clock,
      logger: this.o.logger,
      onStepDown: (gone, unstored) => this.steppedDown(gone, unstored),
    });
    this.owners.set(shard, owner);
    this.counts.takeovers++;
    return owner;
  }

  private steppedDown(owner: ShardOwner, unstored: Pending[]): void {
    if (this.owners.get(owner.shard) === owner) {
      this.owners.delete(owner.shard);
      this.counts.envelopes += owner.stats.envelopes;
      this.counts.messages += owner.stats.messages;
      this.counts.refused += owner.stats.refused;
      this.counts.fenced += owner.stats.fenced;
      this.counts.pagesFromMemory += owner.stats.pagesFromMemory;
    }
    const local: Queued[] = [];
    for (const p of unstored) {
      if (p.forwarded) p.forwarded.notOwner();
      else local.push(p as Queued);
    }
    this.route(owner.shard).returned(local);
  }

  // ---- serving other instances ------------------------------------------------------------

  private async serve(msg: Msg): Promise<void> {
    let req;
    try {
      req = decodeRequest(msg.data);
    } catch (err) {
      this.o.logger.warn({ err: (err as Error).message }, "malformed shard request ignored");
      return;
    }
    const owner = this.ownerOf(req.shard);
    if (!owner) return void msg.respond(encodeReply(Status.NotOwner, null));
    if (req.op === Op.Rewrite) {
      owner.rewrite(req.message);
      return void msg.respond(encodeReply(Status.Done, null));
    }
    if (req.op === Op.Views) {
      const views = await owner.views(req.queries).catch(() => null);
      return void msg.respond(views ? encodeViewReply(views) : encodeReply(Status.NotOwner, null));
    }
    const outcomes: AppendOutcome[] = new Array(req.messages.length);
    let left = req.messages.length;
    if (left === 0) return void msg.respond(encodeReply(Status.Done, outcomes));
    const settle = (i: number, o: AppendOutcome) => {
      if (outcomes[i]) return;
      outcomes[i] = o;
      if (--left === 0) msg.respond(encodeReply(Status.Done, outcomes));
    };
    const pendings: Pending[] = [];
    req.messages.forEach(({ msg: m, resend }, i) => {
      // The sender checked it; a message the store cannot write must not reach the log whatever sent it.
      try {
        checkStorable(m);
      } catch (err) {
        return settle(i, [Outcome.Failed, (err as Error).message]);
      }
      pendings.push({
        msg: m,
        resend,
        resolve: (r) => settle(i, r.duplicate ? [Outcome.Duplicate, r.message] : [Outcome.Stored, r.message.seq]),
        reject: (err) => settle(i, [Outcome.Failed, err.message]),
        forwarded: { notOwner: () => settle(i, [Outcome.NotOwner, null]) },
      });
    });
    owner.submit(pendings);
  }
}

/**
 * The appends of one shard made in this process, in call order. While this instance owns the
 * shard they go straight to its owner; otherwise they are forwarded to the owner in batches, and a
 * shard without a live owner is taken over.
 */
class ShardRoute {
  private queue: Queued[] = [];
  private driving = false;
  private stopped = false;
  /** The lease as last read; re-read after anything suggests the owner changed. */
  private lease: ObservedLease | null = null;
  private cancelWait: (() => void) | undefined;
  private wake: (() => void) | undefined;
  /** Batches forwarded and not yet answered, oldest first, and where they went. */
  private forwards: Promise<Forwarded>[] = [];
  private subject = "";

  constructor(
    private readonly w: ShardWriters,
    private readonly shard: number,
  ) {}

  push(p: Queued): void {
    this.queue.push(p);
    this.kick();
  }

  /** Appends an owner here handed back without storing them: they go first, in their order. */
  returned(ps: Queued[]): void {
    this.lease = null;
    this.queue.unshift(...ps);
    this.expire();
    this.kick();
  }

  stop(): void {
    this.stopped = true;
    this.cancelWait?.();
    this.wake?.();
    const error = new LogUnavailableError("the message store is closed");
    for (const p of this.queue.splice(0)) p.reject(error);
  }

  private kick(): void {
    if (this.driving || this.stopped) return;
    this.driving = true;
    // After the current task: appends made together go together.
    queueMicrotask(() => void this.drive());
  }

  private async drive(): Promise<void> {
    try {
      while ((this.queue.length > 0 || this.forwards.length > 0) && !this.stopped) {
        try {
          await this.step();
        } catch (err) {
          // NATS unreachable (lease reads, requests): refuse what waited too long, try again shortly.
          this.w.o.logger.warn({ err: (err as Error).message, shard: this.shard }, "cannot route appends yet");
          this.lease = null;
          this.expire();
          await Bun.sleep(250);
        }
      }
    } finally {
      this.driving = false;
      if (this.queue.length > 0 && !this.stopped) this.kick();
    }
  }

  private async step(): Promise<void> {
    if (this.forwards.length === 0) {
      const owner = this.w.ownerOf(this.shard);
      if (owner) return owner.submit(this.queue.splice(0));
      const lease = (this.lease ??= await this.w.leases.read(this.shard));
      const holder = lease.value;
      if (!holder || holder.released || holder.owner === this.w.instance) {
        if (!(await this.w.tryOwn(this.shard))) this.lease = null;
        return;
      }
      this.subject = holder.subject;
    }
    await this.forward(this.subject);
  }

  /**
   * Forwards batches to the owner, up to MAX_FORWARDS in flight (NATS keeps their order on the
   * way, and the owner takes them in that order), then settles the oldest. If the owner is gone
   * or changed, no batch is sent until every one in flight has settled; what they did not store
   * goes back to the head of the queue in its order, to be routed again.
   */
  private async forward(subject: string): Promise<void> {
    while (this.queue.length > 0 && this.forwards.length < MAX_FORWARDS) this.forwards.push(this.send(subject, this.take()));
    const head = await this.forwards[0]!;
    this.forwards.shift();
    if (!head.redirect) return;
    const again = [...head.again];
    for (const f of this.forwards.splice(0)) again.push(...(await f).again);
    this.queue.unshift(...again);
    await this.awaitOwner();
  }

  private async send(subject: string, batch: Queued[]): Promise<Forwarded> {
    let reply;
    try {
      reply = await this.w.nc.request(subject, encodeAppend(this.shard, batch), { timeout: this.w.o.log.publishTimeoutMs });
    } catch (err) {
      // Nobody listens there: the owner is gone (nothing was done).
      if ((err as NatsError).code === NO_RESPONDERS) return { again: batch, redirect: true };
      // Timed out: the owner may have stored them. Their senders resend with the same client id.
      // The owner may also have stalled: the shard is taken over if its lease stays unrenewed.
      const error = new LogUnavailableError(`the shard's owner did not answer: ${(err as Error).message}`);
      for (const p of batch) p.reject(error);
      return { again: [], redirect: true };
    }
    const { status, body } = decodeReply<AppendOutcome[]>(reply.data);
    if (status === Status.NotOwner) return { again: batch, redirect: true };
    const again: Queued[] = [];
    body.forEach((raw, i) => {
      const p = batch[i]!;
      const o = decodeOutcome(raw);
      if (o[0] === Outcome.Stored) p.resolve({ message: { ...p.msg, seq: o[1] }, duplicate: false });
      else if (o[0] === Outcome.Duplicate) p.resolve({ message: o[1], duplicate: true });
      else if (o[0] === Outcome.Failed) p.reject(new LogUnavailableError(o[1]));
      else again.push(p);
    });
    return { again, redirect: again.length > 0 };
  }

  /** The head of the queue, as much as one request carries. */
  private take(): Queued[] {
    let bytes = 0;
    let n = 0;
    while (n < this.queue.length && n < MAX_ENVELOPE_MESSAGES) {
      bytes += approxBytes(this.queue[n]!.msg);
      if (n > 0 && bytes > MAX_ENVELOPE_BYTES) break;
      n++;
    }
    this.w.counts.forwarded++;
    return this.queue.splice(0, n);
  }

  /**
   * The lease names an owner that does not answer. Re-reads it until it changes (a new owner,
   * or the old one released it) or has been the same for a whole TTL (then takes it over).
   */
  private async awaitOwner(): Promise<void> {
    const before = this.lease?.revision;
    for (;;) {
      const lease = (this.lease = await this.w.leases.read(this.shard));
      if (lease.revision !== before) return;
      const at = this.w.leases.takeoverAt(lease);
      if (this.w.o.clock.now() >= at) {
        if (!(await this.w.tryOwn(this.shard))) this.lease = null;
        return;
      }
      this.expire();
      if (this.stopped || this.queue.length === 0) return;
      await this.sleep(Math.min(at - this.w.o.clock.now(), this.w.o.leaseTtlMs / 4));
      if (this.stopped) return;
    }
  }

  /** Refuses appends that could not be routed for a whole publish timeout (their senders resend). */
  private expire(): void {
    const limit = Date.now() - this.w.o.log.publishTimeoutMs;
    if (!this.queue.some((p) => p.since < limit)) return;
    const error = new LogUnavailableError("no owner of the conversation's shard is reachable");
    this.queue = this.queue.filter((p) => (p.since < limit ? (p.reject(error), false) : true));
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
      this.cancelWait = this.w.o.clock.after(Math.max(1, ms), resolve);
    });
  }
}
