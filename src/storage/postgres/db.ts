// Opens the PostgreSQL backend of cluster mode: one postgres.js pool shared by the message and
// metadata stores. Every node of the cluster opens the same database, so everything here is
// written to stay correct with other processes writing at the same time.

import { join } from "node:path";
import { drizzle } from "drizzle-orm/postgres-js";
import { migrate } from "drizzle-orm/postgres-js/migrator";
import postgres from "postgres";
import type { PostgresConnection } from "../../connect/postgres.ts";
import type { E2eeStore } from "../e2ee-types.ts";
import type { SafetyStore } from "../safety-types.ts";
import type { MessageStore, MetadataStore } from "../types.ts";
import { PostgresMessageStore } from "./message-store.ts";
import { PostgresMetadataStore } from "./metadata-store.ts";
import { PostgresE2eeStore } from "./e2ee-store.ts";
import { PostgresSafetyStore } from "./safety-store.ts";
import * as schema from "./schema.ts";

export interface PostgresOptions {
  /** postgres://user:password@host:port/database */
  url: string;
  /** Connections in the pool, shared by both stores; message appends use at most one at a time. */
  poolSize: number;
  /**
   * The server cancels a statement of the pool's that runs or waits longer (statement_timeout),
   * and ends a session left idle in a transaction as long (idle_in_transaction_session_timeout).
   * Milliseconds; 0 or absent: no bound.
   */
  statementTimeoutMs?: number;
  /** Credentials and TLS (src/connect/postgres.ts). */
  connection?: PostgresConnection;
}

export interface PostgresBackend {
  messages: MessageStore;
  metadata: MetadataStore;
  safety: SafetyStore;
  /** KeyPackages and MLS groups (src/e2ee). */
  e2ee: E2eeStore;
  /** Flushes pending appends, then closes the pool. */
  close(): Promise<void>;
}

const MIGRATIONS = join(import.meta.dir, "migrations");

/** Advisory lock key ("msgr" in ASCII) held while migrating, so that nodes starting together take turns. */
const MIGRATION_LOCK = 0x6d736772;

/**
 * Applies the pending migrations. Safe to run from several nodes at once: drizzle's migrator is
 * not (two nodes would both apply the same migration, and one would fail), so each run holds an
 * advisory lock, and a node that waited finds the work done.
 */
export async function migratePostgres(url: string, connection: PostgresConnection = {}): Promise<void> {
  // One connection: the lock belongs to the session, and ending the session releases it, whether
  // or not the migration succeeded. Notices ("schema drizzle already exists, skipping") are noise.
  const client = postgres(url, { ...connection, max: 1, onnotice: () => {} });
  try {
    await client`SELECT pg_advisory_lock(${MIGRATION_LOCK})`;
    await migrate(drizzle({ client }), { migrationsFolder: MIGRATIONS });
  } finally {
    await client.end();
  }
}

export async function openPostgres(opts: PostgresOptions): Promise<PostgresBackend> {
  await migratePostgres(opts.url, opts.connection);
  // int8 columns come back as strings (postgres.js's default): the stores convert them, to bigint
  // for message ids (exact above 2^53) and to number for seqs and timestamps.
  // A statement blocked behind another session's lock, or a transaction whose client went quiet,
  // would otherwise hold its command (and a pooled connection) for good: the server bounds both.
  const bound = opts.statementTimeoutMs ?? 0;
  const client = postgres(opts.url, {
    ...opts.connection,
    max: opts.poolSize,
    ...(bound > 0 ? { connection: { statement_timeout: bound, idle_in_transaction_session_timeout: bound } } : {}),
  });
  const messages = new PostgresMessageStore(client);
  const orm = drizzle({ client, schema });
  const metadata = new PostgresMetadataStore(orm);
  return {
    messages,
    metadata,
    safety: new PostgresSafetyStore(orm),
    e2ee: new PostgresE2eeStore(orm),
    async close() {
      await messages.close();
      await metadata.close();
      await client.end();
    },
  };
}
