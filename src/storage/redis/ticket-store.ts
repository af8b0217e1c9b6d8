// TicketStore on Redis: a ticket issued by one node can be redeemed on any other, so the ticket
// request and the WebSocket upgrade need no sticky routing.
//
// Data model: `ticket:<ticket>` (under an optional prefix) holds the claims and their expiry as
// JSON, written with SET PX ttl NX. Redeeming is GETDEL, which reads and deletes in one step, so
// of any number of concurrent redeems across nodes exactly one gets the claims. Expiry is checked
// against the caller's clock from the stored time; PX only lets Redis drop unredeemed tickets.
// Limits: tickets live in memory only, so a Redis restart loses the outstanding ones, which
// costs each waiting client one more ticket request. GETDEL needs Redis 6.2 or later.

import type { default as Redis, RedisOptions } from "ioredis";
import type { TicketClaims, TicketStore } from "../types.ts";
import { connectRedis, consoleLog, type WarnLog } from "./connect.ts";

export interface RedisTicketOptions {
  /** Prepended to every key, so deployments (or tests) can share one Redis. */
  keyPrefix?: string;
  /** Where connection errors go (only for a connection made by open()); the console by default. */
  log?: WarnLog;
  /** Credentials and TLS for a connection made by open(). */
  connection?: RedisOptions;
}

interface Stored {
  claims: TicketClaims;
  expiresAt: number;
}

function randomTicket(): string {
  // 256 bits: unguessable, and base64url so it can travel in a URL query unescaped.
  return Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64url");
}

export class RedisTicketStore implements TicketStore {
  readonly #redis: Redis;
  readonly #prefix: string;
  /** Set by open(): the store made this connection, so close() ends it. */
  #ownsConnection = false;

  /** Opens its own connection; close() ends it. */
  static async open(url: string, opts: RedisTicketOptions = {}): Promise<RedisTicketStore> {
    const store = new RedisTicketStore(await connectRedis(url, opts.log ?? consoleLog, opts.connection), opts);
    store.#ownsConnection = true;
    return store;
  }

  /** Uses a connection the caller owns (and closes). */
  constructor(redis: Redis, opts: RedisTicketOptions = {}) {
    this.#redis = redis;
    this.#prefix = opts.keyPrefix ?? "";
  }

  async issue(claims: TicketClaims, ttlMs: number, nowMs: number): Promise<string> {
    const value = JSON.stringify({ claims, expiresAt: nowMs + ttlMs } satisfies Stored);
    // NX: a (vanishingly unlikely) collision draws again instead of overwriting someone's ticket.
    for (;;) {
      const ticket = randomTicket();
      const set = await this.#redis.set(this.#key(ticket), value, "PX", Math.max(1, Math.ceil(ttlMs)), "NX");
      if (set === "OK") return ticket;
    }
  }

  async redeem(ticket: string, nowMs: number): Promise<TicketClaims | null> {
    const value = await this.#redis.getdel(this.#key(ticket));
    if (value === null) return null;
    const stored = JSON.parse(value) as Stored;
    return nowMs < stored.expiresAt ? stored.claims : null;
  }

  #key(ticket: string): string {
    return `${this.#prefix}ticket:${ticket}`;
  }

  async close(): Promise<void> {
    if (!this.#ownsConnection) return;
    // A second close has nothing left to end.
    this.#ownsConnection = false;
    await this.#redis.quit();
  }
}
