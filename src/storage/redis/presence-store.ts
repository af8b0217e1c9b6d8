// PresenceStore on Redis, shared by every node of a cluster.
//
// Data model (keys under an optional prefix; the braces are literal, so user "active" cannot
// collide with the index, and a user's two keys share a hash slot):
//   presence:{user}  sorted set, the connection registry: one member `device|node` per
//                    connection, scored by its expiry (Redis clock, ms). deviceOnline and every
//                    heartbeat set it to now + ttl. A member whose score has passed is gone, even
//                    while the key lingers, so one device expiring never hides another. The key
//                    also gets a PEXPIREAT one ttl past its latest member, as a backstop.
//   lastseen:{user}  string, ms of the moment the user was last left with no device online: the
//                    caller's clock for a deviceOffline, the expiry for a user who timed out.
//   presence:active  sorted set of users with entries, scored by their latest expiry: the users
//                    a sweep must look at, the soonest due first.
// Every change to a user is one Lua script (presence-scripts.ts), so two nodes racing on a user
// are serialized by Redis: exactly one caller sees each offline->online or online->offline
// transition.
//
// Expiry detection: a node that dies stops heartbeating, and its users must go offline with the
// transition published. Every store with an onExpired handler sweeps every ttl/4: it lists the
// users in presence:active whose latest expiry has passed and claims each with a script that
// re-checks under Redis's lock, so each transition is claimed (and reported) by one node only.
// Reads see an expired entry as gone at once; the event follows within ttl/4 of the expiry. We
// chose this over keyspace notifications, which need CONFIG SET (refused by many managed
// Redis), are fire-and-forget pub/sub (an event sent while a node is reconnecting is lost), are
// delivered to every node (so each transition would be reported once per node), fire only when
// Redis gets round to expiring a key, and cannot expire one member of a sorted set.
//
// Limits: this is soft state. If Redis restarts empty, users read as offline and never seen
// until their next heartbeat re-registers them (within one heartbeat interval); transitions in
// that gap are neither returned nor reported, and last-seen times are lost (stale presence,
// never a lost message). A heartbeat that races with the close of its own connection can revive
// it; the entry then expires after one ttl and the sweep reports the user offline. A user who
// expires and reconnects before a sweep claims it gets no offline event, only the new online
// one (deviceOnline returns true), which is where subscribers end up anyway. Last-seen
// keys are kept forever, one per user. The active index is one key, so this runs on a single
// Redis (or a primary with replicas/Sentinel), not Redis Cluster.

import type { default as Redis, RedisOptions } from "ioredis";
import type { PresenceInfo } from "../../proto/types.ts";
import type { PresenceStore } from "../types.ts";
import { connectRedis, consoleLog, type WarnLog } from "./connect.ts";
import { presenceScripts, type PresenceScripts } from "./presence-scripts.ts";

export interface RedisPresenceOptions {
  /** How long a connection stays online without a heartbeat (heartbeat.timeoutMs). */
  ttlMs: number;
  /** Prepended to every key, so deployments (or tests) can share one Redis. */
  keyPrefix?: string;
  /** Where failed sweeps and connection errors go; the console by default. */
  log?: WarnLog;
  /** Credentials and TLS for a connection made by open(). */
  connection?: RedisOptions;
}

type ExpiredHandler = (user: string, lastSeen: number) => void;

/** Users claimed per sweep round trip; a full batch is followed at once by another. */
const SWEEP_BATCH = 256;

/** A connection's member in presence:{user}. A node id is a number, so the last `|` splits it off. */
function member(device: string, node: number): string {
  return `${device}|${node}`;
}

function deviceOf(member: string): string {
  return member.slice(0, member.lastIndexOf("|"));
}

export class RedisPresenceStore implements PresenceStore {
  readonly #redis: Redis;
  readonly #scripts: PresenceScripts;
  readonly #ttlMs: number;
  readonly #prefix: string;
  readonly #active: string;
  readonly #log: WarnLog;
  readonly #handlers = new Set<ExpiredHandler>();
  /** Set by open(): the store made this connection, so close() ends it. */
  #ownsConnection = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #sweeping: Promise<void> | undefined;
  #sweeps = 0;
  #closed = false;

  /** Opens its own connection; close() ends it. */
  static async open(url: string, opts: RedisPresenceOptions): Promise<RedisPresenceStore> {
    const store = new RedisPresenceStore(await connectRedis(url, opts.log ?? consoleLog, opts.connection), opts);
    store.#ownsConnection = true;
    return store;
  }

  /** Uses a connection the caller owns (and closes). */
  constructor(redis: Redis, opts: RedisPresenceOptions) {
    if (!(opts.ttlMs > 0)) throw new RangeError(`ttlMs must be positive, got ${opts.ttlMs}`);
    this.#redis = redis;
    this.#scripts = presenceScripts(redis);
    // Whole milliseconds: the scripts hand expiries to PEXPIREAT, which takes integers only.
    this.#ttlMs = Math.ceil(opts.ttlMs);
    this.#prefix = opts.keyPrefix ?? "";
    this.#active = `${this.#prefix}presence:active`;
    this.#log = opts.log ?? consoleLog;
  }

  #presenceKey(user: string): string {
    return `${this.#prefix}presence:{${user}}`;
  }

  #lastSeenKey(user: string): string {
    return `${this.#prefix}lastseen:{${user}}`;
  }

  /** The keys the writing scripts take, in their order. */
  #keys(user: string): string[] {
    return [this.#presenceKey(user), this.#lastSeenKey(user), this.#active];
  }

  // The Redis clock decides expiry (see presence-scripts.ts), so nowMs only serves as a last-seen time.
  async deviceOnline(user: string, device: string, node: number, _nowMs: number): Promise<boolean> {
    return (await this.#scripts.up(this.#keys(user), [user, member(device, node), this.#ttlMs])) === 1;
  }

  async deviceOffline(user: string, device: string, node: number, nowMs: number): Promise<boolean> {
    const args = [user, member(device, node), this.#ttlMs, Math.floor(nowMs)];
    return (await this.#scripts.down(this.#keys(user), args)) === 1;
  }

  /** The same script as deviceOnline: a heartbeat re-creates a missing entry, so an emptied Redis heals. */
  async heartbeat(user: string, device: string, node: number, _nowMs: number): Promise<void> {
    await this.#scripts.up(this.#keys(user), [user, member(device, node), this.#ttlMs]);
  }

  async get(users: string[]): Promise<PresenceInfo[]> {
    if (users.length === 0) return [];
    const keys = users.flatMap((user) => [this.#presenceKey(user), this.#lastSeenKey(user)]);
    const flat = await this.#scripts.get(keys, []);
    return users.map((user, i) => ({ user, online: flat[2 * i] === 1, lastSeen: flat[2 * i + 1] ?? 0 }));
  }

  async onlineDevices(user: string): Promise<string[]> {
    const members = await this.#scripts.live([this.#presenceKey(user)], []);
    // A device connected on two nodes (a reconnect overlapping the old connection) counts once.
    return [...new Set(members.map(deviceOf))];
  }

  onExpired(handler: ExpiredHandler): () => void {
    // A wrapper per subscription, so subscribing one function twice needs two unsubscribes.
    const entry: ExpiredHandler = (user, lastSeen) => handler(user, lastSeen);
    this.#handlers.add(entry);
    // Only stores with a handler sweep: a claimed transition is reported by the claiming node
    // only, so a node that could not deliver it must leave it to one that can.
    if (!this.#timer && !this.#sweeping) this.#scheduleSweep();
    return () => {
      this.#handlers.delete(entry);
      if (this.#handlers.size === 0) {
        clearTimeout(this.#timer);
        this.#timer = undefined;
      }
    };
  }

  #scheduleSweep(): void {
    if (this.#closed || this.#handlers.size === 0) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#sweeping = this.#sweep().finally(() => {
        this.#sweeping = undefined;
        this.#scheduleSweep();
      });
    }, this.#ttlMs / 4);
  }

  async #sweep(): Promise<void> {
    try {
      for (;;) {
        const due = await this.#scripts.due([this.#active], [SWEEP_BATCH]);
        const claimed = await Promise.all(due.map((user) => this.#scripts.claim(this.#keys(user), [user, this.#ttlMs])));
        due.forEach((user, i) => {
          const lastSeen = claimed[i];
          if (lastSeen) this.#report(user, lastSeen);
        });
        // Each due user leaves the due set when claimed (offline, or re-tracked at a later
        // expiry), so a full batch means more are waiting, never the same ones again.
        if (due.length < SWEEP_BATCH || this.#closed) return;
      }
    } catch (err) {
      // Redis away: the users stay due and the next sweep claims them.
      this.#log.warn({ err: (err as Error).message }, "presence sweep failed");
    } finally {
      this.#sweeps++;
    }
  }

  /** Sweeps finished so far (a test waits for sweeps to have run, rather than for time to pass). */
  get sweeps(): number {
    return this.#sweeps;
  }

  #report(user: string, lastSeen: number): void {
    for (const handler of this.#handlers) {
      try {
        handler(user, lastSeen);
      } catch (err) {
        this.#log.warn({ err: (err as Error).message, user }, "presence expiry handler threw");
      }
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#sweeping;
    this.#handlers.clear();
    if (this.#ownsConnection) await this.#redis.quit();
  }
}
