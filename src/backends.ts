// Opens the backend chosen for each role by `backends.*` in the config. Embedded choices need
// nothing installed; the cluster ones are imported only when chosen, so a single-node start
// never loads a NATS, Redis or PostgreSQL client.

import { join } from "node:path";
import type { Logger } from "pino";
import type { Bus } from "./bus/bus.ts";
import { MemoryBus } from "./bus/memory-bus.ts";
import type { Config } from "./config/config.ts";
import { MemoryPresenceStore } from "./storage/memory/presence-store.ts";
import { MemoryTicketStore } from "./storage/memory/ticket-store.ts";
import type { E2eeStore } from "./storage/e2ee-types.ts";
import type { SafetyStore } from "./storage/safety-types.ts";
import type { MessageStore, MetadataStore, PresenceStore, TicketStore } from "./storage/types.ts";

export interface Backends {
  bus: Bus;
  messages: MessageStore;
  metadata: MetadataStore;
  /** On the metadata backend's database. */
  safety: SafetyStore;
  /** KeyPackages and MLS groups, on the metadata backend's database. */
  e2ee: E2eeStore;
  presence: PresenceStore;
  tickets: TicketStore;
  /** Closes everything, stores last (they may still receive the final flush). */
  close(): Promise<void>;
}

export interface Stores {
  messages: MessageStore;
  metadata: MetadataStore;
  safety: SafetyStore;
  e2ee: E2eeStore;
  close(): Promise<void>;
}

/** The JetStream log and the Cassandra/ScyllaDB history store, as one MessageStore. */
async function openLogBackedStore(config: Config, log: Logger): Promise<MessageStore> {
  const { openLogBackedStore: open } = await import("./storage/jetstream/open.ts");
  return open(config, log);
}

/** The durable stores alone (opening them applies pending migrations). */
export async function openStores(config: Config, log: Logger): Promise<Stores> {
  const { backends } = config;
  const closers: (() => Promise<void>)[] = [];
  let sqlite: Awaited<ReturnType<typeof import("./storage/sqlite/db.ts").openSqlite>> | undefined;
  const openSqliteOnce = async () => {
    if (!sqlite) {
      const { openSqlite } = await import("./storage/sqlite/db.ts");
      sqlite = openSqlite({
        path: join(config.server.dataDir, "msgr.db"),
        synchronous: config.storage.synchronous,
        pruning: config.storage.retentionSeconds > 0,
        warn: (message) => log.warn(message),
      });
      closers.push(() => sqlite!.close());
    }
    return sqlite;
  };
  let pg: Awaited<ReturnType<typeof import("./storage/postgres/db.ts").openPostgres>> | undefined;
  const openPostgresOnce = async () => {
    if (!pg) {
      const { openPostgres } = await import("./storage/postgres/db.ts");
      const { postgresClientOptions } = await import("./connect/postgres.ts");
      pg = await openPostgres({ url: config.postgres.url, poolSize: config.postgres.poolSize, statementTimeoutMs: config.postgres.statementTimeoutMs, connection: postgresClientOptions(config) });
      closers.push(() => pg!.close());
    }
    return pg;
  };
  let messages: MessageStore;
  if (backends.messages === "jetstream") {
    messages = await openLogBackedStore(config, log);
    closers.push(() => messages.close());
  } else {
    messages = backends.messages === "postgres" ? (await openPostgresOnce()).messages : (await openSqliteOnce()).messages;
  }
  const { metadata, safety, e2ee } = backends.metadata === "postgres" ? await openPostgresOnce() : await openSqliteOnce();
  return {
    messages,
    metadata,
    safety,
    e2ee,
    async close() {
      for (const close of closers.reverse()) await close();
    },
  };
}

export async function openBackends(config: Config, log: Logger): Promise<Backends> {
  const { backends } = config;
  const stores = await openStores(config, log);
  const { messages, metadata, safety, e2ee } = stores;

  let presence: PresenceStore;
  let tickets: TicketStore;
  if (backends.presence === "redis") {
    const [{ openRedisStores }, { redisClientOptions }] = await Promise.all([import("./storage/redis/open.ts"), import("./connect/redis.ts")]);
    ({ presence, tickets } = await openRedisStores({ url: config.redis.url, ttlMs: config.heartbeat.timeoutMs, log, connection: redisClientOptions(config) }));
  } else {
    presence = new MemoryPresenceStore();
    tickets = new MemoryTicketStore();
  }

  let bus: Bus;
  if (backends.bus === "nats") {
    const [{ NatsBus }, { natsClientOptions }] = await Promise.all([import("./bus/nats-bus.ts"), import("./connect/nats.ts")]);
    bus = await NatsBus.connect({ ...natsClientOptions(config, `msgr-node-${config.server.nodeId}`), log });
  } else {
    bus = new MemoryBus((err, subject, event) => log.error({ err, subject, t: event.t }, "bus handler failed"));
  }

  log.info({ backends }, "backends open");
  return {
    bus,
    messages,
    metadata,
    safety,
    e2ee,
    presence,
    tickets,
    async close() {
      await bus.close();
      await Promise.all([presence.close(), tickets.close()]);
      await stores.close();
    },
  };
}
