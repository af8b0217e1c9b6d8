// PostgreSQL MessageStore. Appends are group-committed like the SQLite store's: every append
// issued in one turn of the event loop joins one transaction, so one commit (one WAL flush, a few
// round trips) covers the whole batch. Unlike SQLite, other processes (the other nodes of the
// cluster) append to the same conversations concurrently, so a batch takes row locks on the
// conv_seq rows of its conversations before it reads anything it decides on.
// Queries are postgres.js tagged templates: each is a prepared statement, reused per connection.

import type { Sql } from "postgres";
import type { AppendResult, MessageStore, NewMessage, StoredMessage } from "../types.ts";

/** At most this many appends share one transaction; the rest wait for the next one. */
const MAX_BATCH = 1000;
/**
 * Rows deleted per statement by pruneBefore: each chunk is its own short transaction, so pruning
 * a large backlog never holds locks or a snapshot for long, nor writes one huge WAL record burst.
 */
const PRUNE_CHUNK = 5000;

/**
 * Explicit, whatever the server's default: the batch relies on each statement seeing what other
 * batches committed while it waited for its locks. Under REPEATABLE READ it would fail instead.
 */
const READ_COMMITTED = "isolation level read committed";

interface PendingAppend {
  msg: NewMessage;
  resolve(result: AppendResult): void;
  reject(err: Error): void;
}

/** A messages row as postgres.js returns it: int8 columns arrive as decimal strings. */
interface MessageRow {
  conv_id: string;
  seq: string;
  id: string;
  sender: string;
  device: string;
  cid: string;
  kind: number;
  body: Uint8Array;
  ts: string;
  media: string | null;
  ref: string | null;
  edited: string | null;
  exp: string | null;
}

function toMessage(row: MessageRow): StoredMessage {
  const message: StoredMessage = {
    conv: row.conv_id,
    seq: Number(row.seq),
    // From the decimal string, so ids above 2^53 keep every bit.
    id: BigInt(row.id),
    from: row.sender,
    dev: row.device,
    cid: row.cid,
    kind: row.kind,
    // A plain Uint8Array view of the Buffer postgres.js returns, like every other backend's body.
    body: new Uint8Array(row.body.buffer, row.body.byteOffset, row.body.byteLength),
    ts: Number(row.ts),
  };
  // Only when set: a message without media has no `media` key at all (nor on the wire).
  if (row.media !== null) message.media = row.media;
  if (row.ref !== null) message.ref = Number(row.ref);
  if (row.edited !== null) message.edited = Number(row.edited);
  if (row.exp !== null) message.exp = Number(row.exp);
  return message;
}

/** PostgreSQL rejects a negative LIMIT; callers mean "nothing". */
function clampLimit(limit: number): number {
  return Math.max(0, Math.floor(limit));
}

/** Identifies a client id; NUL cannot occur in PostgreSQL text, so the key is unambiguous. */
const clientKey = (conv: string, from: string, cid: string) => `${conv}\u0000${from}\u0000${cid}`;

export class PostgresMessageStore implements MessageStore {
  readonly prunes = true;
  readonly #sql: Sql;
  #pending: PendingAppend[] = [];
  #flushScheduled = false;
  /** True while a batch transaction is in flight: only one at a time, so seqs follow call order. */
  #committing = false;
  /** The promise of the latest append: batches settle in call order, so when it settles all earlier ones have. */
  #lastAppend: Promise<unknown> = Promise.resolve();
  #closed = false;

  constructor(sql: Sql) {
    this.#sql = sql;
  }

  append(msg: NewMessage): Promise<AppendResult> {
    if (this.#closed) return Promise.reject(new Error("message store is closed"));
    const result = new Promise<AppendResult>((resolve, reject) => this.#pending.push({ msg, resolve, reject }));
    this.#lastAppend = result;
    if (!this.#flushScheduled) {
      // setImmediate, not a microtask: it runs after pending I/O callbacks, so appends from
      // every socket read in this loop turn share the commit.
      this.#flushScheduled = true;
      setImmediate(() => {
        this.#flushScheduled = false;
        void this.#commitPending();
      });
    }
    return result;
  }

  /**
   * Commits pending appends batch after batch until none are left. Appends that arrive while a
   * batch is in flight wait for it, then go together in the next: the slower the commits, the
   * larger the batches.
   */
  async #commitPending(): Promise<void> {
    if (this.#committing) return; // the running loop picks them up
    this.#committing = true;
    try {
      while (this.#pending.length > 0) {
        const batch = this.#pending.splice(0, MAX_BATCH);
        let results: AppendResult[];
        try {
          results = await this.#commitBatch(batch);
        } catch (err) {
          // Rolled back, so no seq was consumed: every append of the batch fails. A connection
          // lost during COMMIT leaves the outcome unknown; the sender's retry with the same
          // client id then gets the original if it was committed after all.
          const error = err instanceof Error ? err : new Error(String(err));
          for (const p of batch) p.reject(error);
          continue;
        }
        batch.forEach((p, i) => p.resolve(results[i]!));
      }
    } finally {
      this.#committing = false;
    }
  }

  /**
   * One READ COMMITTED transaction. Its first step locks the conv_seq row of every conversation in
   * the batch, which serializes it with any other process's batch touching one of them; each
   * later statement takes a fresh snapshot, so it sees everything those batches committed.
   */
  #commitBatch(batch: PendingAppend[]): Promise<AppendResult[]> {
    // Sorted, so that processes creating the same new rows do so in the same order (no deadlock).
    const convs = [...new Set(batch.map((p) => p.msg.conv))].sort();
    const keys = new Map<string, [string, string, string]>();
    for (const { msg } of batch) if (msg.cid !== "") keys.set(clientKey(msg.conv, msg.from, msg.cid), [msg.conv, msg.from, msg.cid]);
    const lookup = [...keys.values()];

    return this.#sql.begin(READ_COMMITTED, async (tx) => {
      // Pipelined: sent at once, executed in this order.
      const [, locked, originals] = await Promise.all([
        // ON CONFLICT DO NOTHING waits for a concurrent creator of the row, then leaves it be.
        tx`INSERT INTO conv_seq (conv_id, last_seq) SELECT unnest(${convs}::text[]), 0 ON CONFLICT DO NOTHING`,
        // ORDER BY: rows are locked in sort order, the same in every process, so batches that
        // share several conversations queue behind each other instead of deadlocking.
        tx<{ conv_id: string; last_seq: string }[]>`
          SELECT conv_id, last_seq FROM conv_seq WHERE conv_id = ANY(${convs}::text[]) ORDER BY conv_id FOR UPDATE`,
        // After the locks: any racing append of the same client id has committed by now.
        lookup.length === 0
          ? []
          : tx<MessageRow[]>`
              SELECT m.conv_id, m.seq, m.id, m.sender, m.device, m.cid, m.kind, m.body, m.ts, m.media, m.ref, m.edited, m.exp
              FROM unnest(${lookup.map((k) => k[0])}::text[], ${lookup.map((k) => k[1])}::text[], ${lookup.map((k) => k[2])}::text[])
                AS k(conv_id, sender, cid)
              JOIN messages m ON m.conv_id = k.conv_id AND m.sender = k.sender AND m.cid = k.cid
              WHERE m.cid <> ''`,
      ]);

      // Seqs continue from conv_seq (never from the rows, which pruning may have deleted).
      const lastSeqs = new Map(locked.map((r) => [r.conv_id, Number(r.last_seq)]));
      const stored = new Map<string, StoredMessage>(originals.map((r) => [clientKey(r.conv_id, r.sender, r.cid), toMessage(r)]));
      const rows: StoredMessage[] = [];
      const results = batch.map(({ msg }): AppendResult => {
        const key = msg.cid === "" ? null : clientKey(msg.conv, msg.from, msg.cid);
        // Stored before, or earlier in this batch: answer with the original, consume no seq.
        const original = key === null ? undefined : stored.get(key);
        if (original) return { message: original, duplicate: true };
        const last = lastSeqs.get(msg.conv);
        if (last === undefined) throw new Error(`conv_seq row of ${msg.conv} was not locked`);
        const message: StoredMessage = { ...msg, seq: last + 1 };
        lastSeqs.set(msg.conv, message.seq);
        if (key !== null) stored.set(key, message);
        rows.push(message);
        return { message, duplicate: false };
      });
      if (rows.length === 0) return results;

      const advanced = [...new Set(rows.map((m) => m.conv))];
      await Promise.all([
        // A plain INSERT: with the locks held, a conflict can only be a bug, and fails the batch.
        // Ids go as decimal strings (exact; postgres.js cannot type a bigint array). Bodies need
        // tx.array: a plain array of Uint8Array would be sent typed as one bytea, not bytea[].
        tx`
          INSERT INTO messages (conv_id, seq, id, sender, device, cid, kind, body, ts, media, ref, exp)
          SELECT * FROM unnest(
            ${rows.map((m) => m.conv)}::text[], ${rows.map((m) => m.seq)}::int8[], ${rows.map((m) => m.id.toString())}::int8[],
            ${rows.map((m) => m.from)}::text[], ${rows.map((m) => m.dev)}::text[], ${rows.map((m) => m.cid)}::text[],
            ${rows.map((m) => m.kind)}::int4[], ${tx.array(rows.map((m) => m.body))}::bytea[], ${rows.map((m) => m.ts)}::int8[],
            ${rows.map((m) => m.media ?? null)}::text[], ${rows.map((m) => m.ref ?? null)}::int8[], ${rows.map((m) => m.exp ?? null)}::int8[])`,
        // GREATEST: belt and braces, last_seq never goes backwards.
        tx`
          UPDATE conv_seq SET last_seq = GREATEST(conv_seq.last_seq, v.last_seq)
          FROM unnest(${advanced}::text[], ${advanced.map((c) => lastSeqs.get(c)!)}::int8[]) AS v(conv_id, last_seq)
          WHERE conv_seq.conv_id = v.conv_id`,
      ]);
      return results;
    });
  }

  async flush(): Promise<void> {
    await this.#lastAppend.then(
      () => {},
      () => {},
    );
  }

  async lastSeq(conv: string): Promise<number> {
    const [row] = await this.#sql<{ last_seq: string }[]>`SELECT last_seq FROM conv_seq WHERE conv_id = ${conv}`;
    return row ? Number(row.last_seq) : 0;
  }

  async firstRetainedSeq(conv: string): Promise<number> {
    // One statement, so both reads come from one snapshot.
    const [row] = await this.#sql<{ first: string }[]>`
      SELECT coalesce(
        (SELECT min(seq) FROM messages WHERE conv_id = ${conv}),
        (SELECT last_seq + 1 FROM conv_seq WHERE conv_id = ${conv}),
        1) AS first`;
    return Number(row!.first);
  }

  async range(conv: string, afterSeq: number, limit: number): Promise<StoredMessage[]> {
    const rows = await this.#sql<MessageRow[]>`
      SELECT conv_id, seq, id, sender, device, cid, kind, body, ts, media, ref, edited, exp FROM messages
      WHERE conv_id = ${conv} AND seq > ${afterSeq} ORDER BY seq LIMIT ${clampLimit(limit)}`;
    return rows.map(toMessage);
  }

  async history(conv: string, beforeSeq: number, limit: number): Promise<StoredMessage[]> {
    const rows = await this.#sql<MessageRow[]>`
      SELECT conv_id, seq, id, sender, device, cid, kind, body, ts, media, ref, edited, exp FROM messages
      WHERE conv_id = ${conv} AND seq < ${beforeSeq} ORDER BY seq DESC LIMIT ${clampLimit(limit)}`;
    return rows.map(toMessage);
  }

  async lastSeqBySender(conv: string): Promise<Map<string, number>> {
    const rows = await this.#sql<{ sender: string; seq: string }[]>`
      SELECT sender, max(seq) AS seq FROM messages WHERE conv_id = ${conv} GROUP BY sender`;
    return new Map(rows.map((r) => [r.sender, Number(r.seq)]));
  }

  async pruneBefore(tsMs: number): Promise<number> {
    let deleted = 0;
    for (;;) {
      // SKIP LOCKED: nodes pruning at the same time split the old rows instead of queueing on
      // each other's chunks (the conv_seq rows appends lock are not touched).
      const { count } = await this.#sql`
        DELETE FROM messages WHERE (conv_id, seq) IN (
          SELECT conv_id, seq FROM messages WHERE ts < ${tsMs} LIMIT ${PRUNE_CHUNK} FOR UPDATE SKIP LOCKED)`;
      deleted += count;
      if (count < PRUNE_CHUNK) return deleted;
    }
  }

  async pruneExpired(nowMs: number): Promise<number> {
    let deleted = 0;
    for (;;) {
      // conv_seq keeps each conversation's last seq whatever rows go. The partial index on exp
      // holds only disappearing messages.
      const { count } = await this.#sql`
        DELETE FROM messages WHERE (conv_id, seq) IN (
          SELECT conv_id, seq FROM messages WHERE exp IS NOT NULL AND exp <= ${nowMs} LIMIT ${PRUNE_CHUNK} FOR UPDATE SKIP LOCKED)`;
      deleted += count;
      if (count < PRUNE_CHUNK) return deleted;
    }
  }

  /**
   * In place; the old row version stays in the table file until (auto)vacuum reclaims it, and in
   * the WAL until it is recycled.
   */
  async rewrite(m: StoredMessage): Promise<void> {
    // A pending append of this very message commits first.
    await this.flush();
    await this.#sql`
      UPDATE messages SET kind = ${m.kind}, body = ${m.body}, media = ${m.media ?? null}, ref = ${m.ref ?? null}, edited = ${m.edited ?? null}
      WHERE conv_id = ${m.conv} AND seq = ${m.seq}`;
  }

  /** Refuses further appends and waits for the pending ones; the pool is closed by its owner. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.flush();
  }
}
