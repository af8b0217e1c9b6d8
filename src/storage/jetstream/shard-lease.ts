// Shard leases in a NATS KV bucket: key shard-<i> names the store instance that owns shard i,
// the subject it takes forwarded appends on, and an epoch that grows with every change of
// owner. Every change is a compare-and-set on the key's revision, so two contenders never both
// win one epoch. The owner renews (rewrites the value, which moves the revision) every third of
// the TTL; a contender takes a lease over only after it has seen the same revision for a whole
// TTL on its own clock, so clock skew between machines does not matter. A lease is advisory:
// an owner that stalls past its TTL and carries on writing is fenced by the stream itself
// (shard-owner.ts), not by this bucket.

import type { KV, NatsError } from "nats";
import type { Clock } from "../../clock.ts";
import type { LogLayout } from "./layout.ts";

export interface LeaseValue {
  epoch: number;
  /** The owning store instance. */
  owner: string;
  /** Where it takes appends and tail queries (shard-rpc.ts). */
  subject: string;
  /** Given up on a clean shutdown: anyone may take it at once. */
  released?: boolean;
}

/** What this instance last saw of a lease. */
export interface ObservedLease {
  revision: number;
  value: LeaseValue | null;
  /** Clock time at which this revision was first seen. */
  since: number;
}

/** A lease this instance holds. */
export interface HeldLease {
  epoch: number;
  revision: number;
}

const WRONG_LAST_SEQUENCE = 10071;
const encoder = new TextEncoder();

function conflict(err: unknown): boolean {
  return (err as NatsError | undefined)?.api_error?.err_code === WRONG_LAST_SEQUENCE;
}

export class ShardLeases {
  private readonly observed = new Map<number, ObservedLease>();

  constructor(
    private readonly kv: KV,
    private readonly layout: LogLayout,
    /** This store instance. */
    readonly instance: string,
    /** Where this instance takes forwarded requests. */
    readonly subject: string,
    readonly ttlMs: number,
    readonly clock: Clock,
  ) {}

  /** Reads the lease; a revision not seen before restarts its TTL. */
  async read(shard: number): Promise<ObservedLease> {
    const entry = await this.kv.get(this.layout.leaseKey(shard));
    const revision = entry && entry.operation === "PUT" ? entry.revision : 0;
    const prev = this.observed.get(shard);
    if (prev && prev.revision === revision) return prev;
    const o: ObservedLease = { revision, value: revision ? (JSON.parse(entry!.string()) as LeaseValue) : null, since: this.clock.now() };
    this.observed.set(shard, o);
    return o;
  }

  /** The lease as last read, without asking again (it may be stale: whoever uses it re-reads on a wrong answer). */
  peek(shard: number): ObservedLease | undefined {
    return this.observed.get(shard);
  }

  /** When the lease as last read may be taken over (now, if it is free or released). */
  takeoverAt(o: ObservedLease): number {
    return !o.value || o.value.released ? 0 : o.since + this.ttlMs;
  }

  /**
   * Becomes the shard's owner if the lease is free, released, ours, or unchanged for a whole TTL;
   * null when a live owner holds it or another contender won the compare-and-set.
   */
  async tryAcquire(shard: number): Promise<HeldLease | null> {
    const o = await this.read(shard);
    // Our own lease without an owner behind it (it gave up after a failed recovery): take it again.
    const ours = o.value?.owner === this.instance;
    if (o.value && !ours && !o.value.released && this.clock.now() < this.takeoverAt(o)) return null;
    const value: LeaseValue = { epoch: (o.value?.epoch ?? 0) + 1, owner: this.instance, subject: this.subject };
    try {
      const key = this.layout.leaseKey(shard);
      const data = encoder.encode(JSON.stringify(value));
      const revision = o.revision ? await this.kv.update(key, data, o.revision) : await this.kv.create(key, data);
      this.observed.set(shard, { revision, value, since: this.clock.now() });
      return { epoch: value.epoch, revision };
    } catch (err) {
      if (conflict(err)) return null;
      throw err;
    }
  }

  /** Rewrites the lease to show the owner is alive; "lost" when another instance changed it meanwhile. */
  async renew(shard: number, held: HeldLease): Promise<HeldLease | "lost"> {
    const value: LeaseValue = { epoch: held.epoch, owner: this.instance, subject: this.subject };
    try {
      const revision = await this.kv.update(this.layout.leaseKey(shard), encoder.encode(JSON.stringify(value)), held.revision);
      return { epoch: held.epoch, revision };
    } catch (err) {
      if (conflict(err)) return "lost";
      throw err;
    }
  }

  /** Gives the lease up so that another instance may take it without waiting out the TTL. */
  async release(shard: number, held: HeldLease): Promise<void> {
    const value: LeaseValue = { epoch: held.epoch, owner: this.instance, subject: this.subject, released: true };
    try {
      await this.kv.update(this.layout.leaseKey(shard), encoder.encode(JSON.stringify(value)), held.revision);
    } catch (err) {
      // Already taken over: nothing to give up.
      if (!conflict(err)) throw err;
    }
  }
}
