// The Redis-backed soft-state stores a cluster node uses (backends.presence = "redis").

import type { RedisOptions } from "ioredis";
import type { PresenceStore, TicketStore } from "../types.ts";
import type { WarnLog } from "./connect.ts";
import { RedisPresenceStore } from "./presence-store.ts";
import { RedisTicketStore } from "./ticket-store.ts";

export interface RedisStoresOptions {
  url: string;
  /** Presence expiry without heartbeats: heartbeat.timeoutMs. */
  ttlMs: number;
  keyPrefix?: string;
  log?: WarnLog;
  /** Credentials and TLS (src/connect/redis.ts). */
  connection?: RedisOptions;
}

/** Each store has its own connection, so each close() ends exactly what it opened. */
export async function openRedisStores(opts: RedisStoresOptions): Promise<{ presence: PresenceStore; tickets: TicketStore }> {
  const { url, ...rest } = opts;
  const presence = await RedisPresenceStore.open(url, rest);
  try {
    return { presence, tickets: await RedisTicketStore.open(url, rest) };
  } catch (err) {
    await presence.close();
    throw err;
  }
}
