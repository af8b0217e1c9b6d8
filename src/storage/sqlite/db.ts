// Opens the embedded SQLite backend: one bun:sqlite connection shared by the message and
// metadata stores, so both write through the same WAL and never contend for the write lock.

import { Database } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { drizzle } from "drizzle-orm/bun-sqlite";
import { migrate } from "drizzle-orm/bun-sqlite/migrator";
import type { E2eeStore } from "../e2ee-types.ts";
import type { SafetyStore } from "../safety-types.ts";
import type { MessageStore, MetadataStore } from "../types.ts";
import { CHECKPOINT_FALLBACK_PAGES, Checkpointer, type WalState } from "./checkpointer.ts";
import { ConnectWriter } from "./connect-writer.ts";
import { lockDatabase } from "./owner-lock.ts";
import { SqliteMessageStore } from "./message-store.ts";
import { SqliteMetadataStore } from "./metadata-store.ts";
import { SqliteE2eeStore } from "./e2ee-store.ts";
import { SqliteSafetyStore } from "./safety-store.ts";
import * as schema from "./schema.ts";

export interface SqliteOptions {
  /** Database file; its directory is created when missing. ":memory:" works for throwaway use. */
  path: string;
  /**
   * Durability of a commit in WAL mode, i.e. of every acked message:
   * - "full": the WAL is fsynced at each commit, so a committed transaction survives power loss
   *   and OS crashes.
   * - "normal": the WAL is fsynced only at checkpoints, so a commit survives a crash of the
   *   process (SIGKILL included) but the last commits may be lost on power loss or an OS crash.
   *   Group commit already amortizes the fsync, so "full" is the sensible default.
   */
  synchronous: "full" | "normal";
  /**
   * Messages are pruned by age (storage.retentionSeconds > 0): keep an index on their
   * timestamps. Without pruning it is dropped, so appends do not maintain it.
   */
  pruning?: boolean;
  /** Hears what background work could not do (checkpoints, connections' registrations); the server logs it. */
  warn?: (message: string) => void;
}

export interface SqliteBackend {
  messages: MessageStore;
  metadata: MetadataStore;
  safety: SafetyStore;
  /** KeyPackages and MLS groups (src/e2ee). */
  e2ee: E2eeStore;
  /** Copies the WAL into the database file on its own thread (null for ":memory:", which has no WAL). */
  checkpointer: Checkpointer | null;
  /** Flushes pending appends, then closes the shared connection. */
  close(): Promise<void>;
}

const MIGRATIONS = join(import.meta.dir, "migrations");

/** Reads the WAL's state on `db` without copying anything (SQLite 3.51+). */
export function walState(db: Database): () => WalState {
  const noop = db.query<{ log: number; checkpointed: number }, []>("PRAGMA wal_checkpoint(NOOP)");
  return () => {
    const r = noop.get()!;
    return { frames: r.log, copied: r.checkpointed };
  };
}

export function openSqlite(opts: SqliteOptions): SqliteBackend {
  if (opts.path !== ":memory:") mkdirSync(dirname(opts.path), { recursive: true });
  const owner = opts.path === ":memory:" ? null : lockDatabase(opts.path);
  let db: Database | undefined;
  try {
    // safeIntegers stays off so that seq and timestamps read as numbers; the one 64-bit column
    // (messages.id) is read as text and parsed to bigint by the message store.
    //
    // SQLite's default VFS. Tried and not kept: unix-excl (3fc8ce3), which takes the file's lock
    // once instead of fcntl locks at every transaction. It cut the server's syscalls in the 1:1
    // bench's open loop by a third, not its CPU: against the default in the same runs, round by
    // round (`bun bench/run.ts direct --peers msgr,msgr@46b7acf`), closed-loop CPU per message
    // 1.028x (median of 30 rounds' ratios, lower in 12) and 0.944x (20 rounds, lower in 15), open
    // loop 0.993x, its p99 0.971x (lower in 11 of 20). And no other process could open a live
    // database, not even the sqlite3 shell to read it.
    db = new Database(opts.path, { create: true, strict: true });
    // Another process (the sqlite3 shell) or the checkpoint thread may hold the lock briefly; wait
    // rather than fail. First: switching to WAL takes the lock too, and without a timeout fails
    // at once (SQLITE_BUSY, seen in a CI run opening a fresh database).
    db.run("PRAGMA busy_timeout = 5000");
    db.run("PRAGMA journal_mode = WAL");
    db.run(`PRAGMA synchronous = ${opts.synchronous === "full" ? "FULL" : "NORMAL"}`);
    db.run("PRAGMA foreign_keys = ON");
    // A message deleted for everyone, or disappeared, must not linger in the file's free space:
    // deleted content is zeroed where that costs no extra I/O (the page is written anyway).
    db.run("PRAGMA secure_delete = FAST");
    // Checkpoints run on their own thread (checkpointer.ts); this connection's are a fallback.
    db.run(`PRAGMA wal_autocheckpoint = ${CHECKPOINT_FALLBACK_PAGES}`);
    const orm = drizzle({ client: db, schema });
    migrate(orm, { migrationsFolder: MIGRATIONS });
    db.run(opts.pruning ? "CREATE INDEX IF NOT EXISTS messages_ts_idx ON messages (ts)" : "DROP INDEX IF EXISTS messages_ts_idx");

    const warn = opts.warn ?? (() => {});
    const checkpointer = opts.path === ":memory:" ? null : new Checkpointer(opts.path, opts.synchronous, walState(db), warn);
    // The writers that commit often tell the checkpointer after each commit; the rest write little.
    const committed = checkpointer ? () => checkpointer.committed() : () => {};
    const messages = new SqliteMessageStore(db, undefined, committed);
    // What connections register, batched per turn for all three stores (one transaction).
    const connects = new ConnectWriter(db, committed, warn);
    const metadata = new SqliteMetadataStore(orm, db, connects, committed);
    return {
      messages,
      metadata,
      safety: new SqliteSafetyStore(orm, connects),
      e2ee: new SqliteE2eeStore(orm, connects),
      checkpointer,
      async close() {
        await messages.close();
        await metadata.close();
        await checkpointer?.close();
        db?.close();
        owner?.release();
      },
    };
  } catch (err) {
    db?.close();
    owner?.release();
    throw err;
  }
}
