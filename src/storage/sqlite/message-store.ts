// SQLite MessageStore. Appends are group-committed: every append issued in one turn of the event
// loop joins one transaction, so one WAL fsync covers the whole batch instead of one per message.
// Reads use raw prepared statements (cached on the connection) rather than drizzle: they are on
// the delivery hot path, and the 64-bit id needs a CAST that the query builder would hide.

import type { Database, Statement } from "bun:sqlite";
import type { AppendResult, MessageStore, NewMessage, StoredMessage } from "../types.ts";

/** A batch this large is committed at once rather than waiting for the end of the loop turn. */
const MAX_BATCH = 1000;
/** Rows deleted per statement by pruneBefore, which yields between chunks to keep the loop responsive. */
const PRUNE_CHUNK = 5000;

interface PendingAppend {
  msg: NewMessage;
  resolve(result: AppendResult): void;
  reject(err: Error): void;
}

type InsertParams = [string, number, bigint, string, string, string, number, Uint8Array, number, string | null];

interface MessageRow {
  conv: string;
  seq: number;
  /** Decimal text: read through CAST so that ids above 2^53 keep every bit. */
  id: string;
  from: string;
  dev: string;
  cid: string;
  kind: number;
  body: Uint8Array;
  ts: number;
  media: string | null;
}

const COLUMNS = `conv_id AS conv, seq, CAST(id AS TEXT) AS id, sender AS "from", device AS dev, cid, kind, body, ts, media`;

function toMessage(row: MessageRow): StoredMessage {
  const message: StoredMessage = {
    conv: row.conv,
    seq: row.seq,
    id: BigInt(row.id),
    from: row.from,
    dev: row.dev,
    cid: row.cid,
    kind: row.kind,
    body: row.body,
    ts: row.ts,
  };
  // Only when set: a message without media has no `media` key at all (nor on the wire).
  if (row.media !== null) message.media = row.media;
  return message;
}

/** SQLite reads a negative LIMIT as "no limit"; callers mean "nothing". */
function clampLimit(limit: number): number {
  return Math.max(0, Math.floor(limit));
}

export class SqliteMessageStore implements MessageStore {
  readonly prunes = true;
  #pending: PendingAppend[] = [];
  #flushScheduled = false;
  #closed = false;

  readonly #commitBatch: (batch: PendingAppend[]) => AppendResult[];
  readonly #byClientId: Statement<MessageRow, [string, string, string]>;
  readonly #range: Statement<MessageRow, [string, number, number]>;
  readonly #history: Statement<MessageRow, [string, number, number]>;
  readonly #lastSeq: Statement<{ lastSeq: number }, [string]>;
  readonly #firstSeq: Statement<{ seq: number | null }, [string]>;
  readonly #bySender: Statement<{ sender: string; seq: number }, [string]>;
  readonly #pruneChunk: Statement<never, [number, number]>;

  constructor(db: Database) {
    // ON CONFLICT DO NOTHING (rather than INSERT OR IGNORE) skips only uniqueness conflicts: any
    // other constraint failure throws and fails the batch instead of passing for a duplicate.
    const insert = db.query<never, InsertParams>(
      `INSERT INTO messages (conv_id, seq, id, sender, device, cid, kind, body, ts, media)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
    );
    const raiseLastSeq = db.query<never, [string, number]>(
      `INSERT INTO conv_seq (conv_id, last_seq) VALUES (?, ?)
       ON CONFLICT (conv_id) DO UPDATE SET last_seq = max(last_seq, excluded.last_seq)`,
    );
    // `cid <> ''` lets SQLite use the partial unique index, and keeps system messages (which all
    // have cid "") out of client-id lookups.
    this.#byClientId = db.query(`SELECT ${COLUMNS} FROM messages WHERE conv_id = ? AND sender = ? AND cid = ? AND cid <> ''`);
    this.#lastSeq = db.query(`SELECT last_seq AS lastSeq FROM conv_seq WHERE conv_id = ?`);

    const transaction = db.transaction((batch: PendingAppend[]): AppendResult[] => {
      // conv -> last seq assigned so far in this batch, starting from conv_seq (never from the
      // rows, which pruning may have deleted): seqs are never reused.
      const lastSeqs = new Map<string, number>();
      const advanced = new Set<string>();
      const results = batch.map(({ msg }): AppendResult => {
        const last = lastSeqs.get(msg.conv) ?? this.#lastSeq.get(msg.conv)?.lastSeq ?? 0;
        lastSeqs.set(msg.conv, last);
        const stored: StoredMessage = { ...msg, seq: last + 1 };
        const { changes } = insert.run(stored.conv, stored.seq, stored.id, stored.from, stored.dev, stored.cid, stored.kind, stored.body, stored.ts, stored.media ?? null);
        if (changes === 0) {
          // The seq is past conv_seq, so the conflict is the client id (stored earlier, or
          // earlier in this batch): answer with the original and leave the seq unconsumed.
          const original = this.#byClientId.get(msg.conv, msg.from, msg.cid);
          if (!original) throw new Error(`seq ${stored.seq} of ${msg.conv} is taken although conv_seq says ${last}`);
          return { message: toMessage(original), duplicate: true };
        }
        lastSeqs.set(msg.conv, stored.seq);
        advanced.add(msg.conv);
        return { message: stored, duplicate: false };
      });
      for (const conv of advanced) raiseLastSeq.run(conv, lastSeqs.get(conv)!);
      return results;
    });
    // IMMEDIATE: the batch reads conv_seq before writing, so take the write lock up front rather
    // than fail upgrading a read lock when another connection (a CLI tool) wrote in between.
    this.#commitBatch = transaction.immediate;

    this.#range = db.query(`SELECT ${COLUMNS} FROM messages WHERE conv_id = ? AND seq > ? ORDER BY seq LIMIT ?`);
    this.#history = db.query(`SELECT ${COLUMNS} FROM messages WHERE conv_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?`);
    this.#firstSeq = db.query(`SELECT min(seq) AS seq FROM messages WHERE conv_id = ?`);
    this.#bySender = db.query(`SELECT sender, max(seq) AS seq FROM messages WHERE conv_id = ? GROUP BY sender`);
    this.#pruneChunk = db.query(`DELETE FROM messages WHERE rowid IN (SELECT rowid FROM messages WHERE ts < ? LIMIT ?)`);
  }

  append(msg: NewMessage): Promise<AppendResult> {
    if (this.#closed) return Promise.reject(new Error("message store is closed"));
    return new Promise<AppendResult>((resolve, reject) => {
      this.#pending.push({ msg, resolve, reject });
      if (this.#pending.length >= MAX_BATCH) {
        this.#commitPending();
      } else if (!this.#flushScheduled) {
        // setImmediate, not a microtask: it runs after pending I/O callbacks, so appends from
        // every socket read in this loop turn share the commit.
        this.#flushScheduled = true;
        setImmediate(() => {
          this.#flushScheduled = false;
          this.#commitPending();
        });
      }
    });
  }

  /** Commits the pending batch synchronously and settles each append's promise. */
  #commitPending(): void {
    const batch = this.#pending;
    if (batch.length === 0) return;
    this.#pending = [];
    let results: AppendResult[];
    try {
      results = this.#commitBatch(batch);
    } catch (err) {
      // Nothing was committed, so no seq was consumed: every append of the batch fails.
      const error = err instanceof Error ? err : new Error(String(err));
      for (const p of batch) p.reject(error);
      return;
    }
    batch.forEach((p, i) => p.resolve(results[i]!));
  }

  async flush(): Promise<void> {
    this.#commitPending();
  }

  async lastSeq(conv: string): Promise<number> {
    return this.#lastSeq.get(conv)?.lastSeq ?? 0;
  }

  async firstRetainedSeq(conv: string): Promise<number> {
    const first = this.#firstSeq.get(conv)?.seq;
    return first ?? (await this.lastSeq(conv)) + 1;
  }

  async range(conv: string, afterSeq: number, limit: number): Promise<StoredMessage[]> {
    return this.#range.all(conv, afterSeq, clampLimit(limit)).map(toMessage);
  }

  async history(conv: string, beforeSeq: number, limit: number): Promise<StoredMessage[]> {
    return this.#history.all(conv, beforeSeq, clampLimit(limit)).map(toMessage);
  }

  async lastSeqBySender(conv: string): Promise<Map<string, number>> {
    return new Map(this.#bySender.all(conv).map((r) => [r.sender, r.seq]));
  }

  async pruneBefore(tsMs: number): Promise<number> {
    let deleted = 0;
    for (;;) {
      const { changes } = this.#pruneChunk.run(tsMs, PRUNE_CHUNK);
      deleted += changes;
      if (changes < PRUNE_CHUNK) return deleted;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  /** Commits what is pending and refuses further appends; the connection is closed by its owner. */
  async close(): Promise<void> {
    this.#commitPending();
    this.#closed = true;
  }
}
