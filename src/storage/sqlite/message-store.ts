// SQLite MessageStore. Appends are group-committed: every append issued in one turn of the event
// loop joins one transaction, so one WAL fsync covers the whole batch instead of one per message.
// Reads use raw prepared statements (cached on the connection) rather than drizzle: they are on
// the delivery hot path, and the 64-bit id needs a CAST that the query builder would hide.
//
// Each conversation's last seq is kept in memory once read (this store is the only writer of
// its database), so an append batch writes message rows and nothing else. conv_seq remembers a
// conversation's last seq only when pruning deletes its newest rows: the last seq is the higher
// of that and the rows' own max(seq).

import type { Database, Statement } from "bun:sqlite";
import type { AppendResult, MessageStore, NewMessage, StoredMessage } from "../types.ts";

/** A batch this large is committed at once rather than waiting for the end of the loop turn. */
const MAX_BATCH = 1000;
/** Conversations whose last seq is kept in memory; beyond it the oldest are forgotten. */
const MAX_CACHED_SEQS = 100_000;
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

  /** conversation id -> last seq committed, for the conversations used since open. */
  readonly #lastSeqs = new Map<string, number>();
  readonly #commitBatch: (batch: PendingAppend[]) => AppendResult[];
  readonly #byClientId: Statement<MessageRow, [string, string, string]>;
  readonly #range: Statement<MessageRow, [string, number, number]>;
  readonly #history: Statement<MessageRow, [string, number, number]>;
  readonly #storedLastSeq: Statement<{ lastSeq: number }, [string]>;
  readonly #firstSeq: Statement<{ seq: number | null }, [string]>;
  readonly #bySender: Statement<{ sender: string; seq: number }, [string]>;
  readonly #keepLastSeqs: Statement<never, [number]>;
  readonly #pruneChunk: Statement<never, [number, number]>;

  constructor(db: Database) {
    // ON CONFLICT DO NOTHING (rather than INSERT OR IGNORE) skips only uniqueness conflicts: any
    // other constraint failure throws and fails the batch instead of passing for a duplicate.
    const insert = db.query<never, InsertParams>(
      `INSERT INTO messages (conv_id, seq, id, sender, device, cid, kind, body, ts, media)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
    );
    // `cid <> ''` lets SQLite use the partial unique index, and keeps system messages (which all
    // have cid "") out of client-id lookups.
    this.#byClientId = db.query(`SELECT ${COLUMNS} FROM messages WHERE conv_id = ? AND sender = ? AND cid = ? AND cid <> ''`);
    this.#storedLastSeq = db.query(
      `SELECT max(coalesce((SELECT last_seq FROM conv_seq WHERE conv_id = ?1), 0), coalesce((SELECT max(seq) FROM messages WHERE conv_id = ?1), 0)) AS lastSeq`,
    );

    const transaction = db.transaction((batch: PendingAppend[]): AppendResult[] => {
      // conv -> last seq assigned so far in this batch, on top of what is committed.
      const assigned = new Map<string, number>();
      return batch.map(({ msg }): AppendResult => {
        const last = assigned.get(msg.conv) ?? this.#lastSeqOf(msg.conv);
        const seq = last + 1;
        const media = msg.media ?? null;
        const { changes } = insert.run(msg.conv, seq, msg.id, msg.from, msg.dev, msg.cid, msg.kind, msg.body, msg.ts, media);
        if (changes === 0) {
          // The seq is past the last one, so the conflict is the client id (stored earlier, or
          // earlier in this batch): answer with the original and leave the seq unconsumed.
          const original = this.#byClientId.get(msg.conv, msg.from, msg.cid);
          if (!original) throw new Error(`seq ${seq} of ${msg.conv} is taken although the last seq is ${last}`);
          assigned.set(msg.conv, last);
          return { message: toMessage(original), duplicate: true };
        }
        assigned.set(msg.conv, seq);
        const stored: StoredMessage = { conv: msg.conv, seq, id: msg.id, from: msg.from, dev: msg.dev, cid: msg.cid, kind: msg.kind, body: msg.body, ts: msg.ts };
        if (media !== null) stored.media = media;
        return { message: stored, duplicate: false };
      });
    });
    // IMMEDIATE: take the write lock up front rather than fail upgrading a read lock when another
    // connection (a CLI tool) wrote in between. The in-memory seqs move only once it committed.
    this.#commitBatch = (batch) => {
      const results = transaction.immediate(batch);
      for (const r of results) if (!r.duplicate) this.#lastSeqs.set(r.message.conv, r.message.seq);
      // Bounded: the oldest entries are dropped (and read again from the database if needed).
      if (this.#lastSeqs.size > MAX_CACHED_SEQS) {
        let n = this.#lastSeqs.size - MAX_CACHED_SEQS / 2;
        for (const conv of this.#lastSeqs.keys()) {
          if (n-- <= 0) break;
          this.#lastSeqs.delete(conv);
        }
      }
      return results;
    };

    this.#range = db.query(`SELECT ${COLUMNS} FROM messages WHERE conv_id = ? AND seq > ? ORDER BY seq LIMIT ?`);
    this.#history = db.query(`SELECT ${COLUMNS} FROM messages WHERE conv_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?`);
    this.#firstSeq = db.query(`SELECT min(seq) AS seq FROM messages WHERE conv_id = ?`);
    this.#bySender = db.query(`SELECT sender, max(seq) AS seq FROM messages WHERE conv_id = ? GROUP BY sender`);
    // Before old rows go, the last seqs they hold are recorded, so that deleting a
    // conversation's newest rows never lowers its last seq.
    this.#keepLastSeqs = db.query(
      `INSERT INTO conv_seq (conv_id, last_seq) SELECT conv_id, max(seq) FROM messages WHERE ts < ? GROUP BY conv_id
       ON CONFLICT (conv_id) DO UPDATE SET last_seq = max(last_seq, excluded.last_seq)`,
    );
    this.#pruneChunk = db.query(`DELETE FROM messages WHERE (conv_id, seq) IN (SELECT conv_id, seq FROM messages WHERE ts < ? LIMIT ?)`);
  }

  /** The conversation's last seq: from memory, or read once from the database. */
  #lastSeqOf(conv: string): number {
    let last = this.#lastSeqs.get(conv);
    if (last === undefined) {
      last = this.#storedLastSeq.get(conv)?.lastSeq ?? 0;
      this.#lastSeqs.set(conv, last);
    }
    return last;
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
    return this.#lastSeqOf(conv);
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
    this.#keepLastSeqs.run(tsMs);
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
