// SQLite MessageStore. Appends are group-committed: every append issued in one turn of the event
// loop joins one transaction, so one WAL fsync covers the whole batch instead of one per message.
// Reads use raw prepared statements (cached on the connection) rather than drizzle: they are on
// the delivery hot path, and the 64-bit id needs a CAST that the query builder would hide.
//
// Each conversation's last seq is kept in memory once read (this store is the only writer of
// its database), so an append batch writes message rows and nothing else. conv_seq remembers a
// conversation's last seq only when pruning deletes its newest rows: the last seq is the higher
// of that and the rows' own max(seq).
//
// The rows are found by (conv_id, seq) through message_index (schema.ts), whose entries are written
// SEQ_INDEX_DELAY_MS after the commit, for every commit in between at once, sorted: the commit
// itself appends a few pages at the table's end instead of one page of the index per conversation
// (in the 1:1 open loop at 30k msg/s: median send-to-deliver 1.28-1.55 -> 0.76-0.81 ms). Every
// read by (conv_id, seq) writes what is waiting first, and so does a commit that reads (a last seq
// not in memory, the original of a possible duplicate) before it begins. Waiting entries are
// always those of the newest rows, so the rows a crash leaves without theirs are found at open,
// from the newest down to the first one indexed, and indexed then.
//
// Tried and not kept: acking once a commit's frames were appended to a log file beside the
// database (one write, about 1 µs) and writing the rows with their entries every 25 ms. Alone it
// paid (appends of 1 and 4 messages per commit: 15.3 -> 7.4 and 7.7 -> 5.3 µs per message); in
// the 1:1 bench's open loop at a fixed 40k msg/s the server's CPU per message fell 5% (22.6 ->
// 21.4 ms per 1k), but the median send-to-deliver rose from 0.53 to 1.51 ms, and the closed
// loop's throughput fell from 68.5k to 59.0k msg/s (medians of 5 rounds each).
//
// Each row holds its message as the MESSAGE push frame (schema.ts: frame); the columns beside it
// are what queries select and sort by, and its body column is empty. A resume streams the frames
// as stored (frames()), and every other read decodes them; rows written before frames existed
// are read from their columns.
//
// Duplicates: the table has no client-id index (schema.ts: it tripled the pages a commit writes).
// A SEND's client id is checked against the 100,000 most recently stored ones (kept in memory
// with the seq each got, and read back from the newest rows at open, so the window survives
// restarts); one marked `resend` (the SDK marks every retransmission) is also looked up among its
// conversation's 10,000 newest messages, a bounded range of message_index (DuplicateWindow). A
// duplicate is answered with the original row and consumes no seq.

import type { Database, Statement } from "bun:sqlite";
import { messageFrame, messageOfFrame } from "../../proto/message-frame.ts";
import { BoundedMap } from "../../bounded-map.ts";
import { BoundedNumberMap } from "../../bounded-number-map.ts";
import { atTurnEnd } from "../../turn-end.ts";
import type { AppendOptions, AppendResult, MessageStore, NewMessage, StoredFrame, StoredMessage } from "../types.ts";

/** A batch this large is committed at once rather than waiting for the end of the loop turn. */
const MAX_BATCH = 1000;
export interface DuplicateWindow {
  /** Client ids stored most recently, kept in memory for the duplicate check (100,000: about 5 MB, bounded-number-map.ts). */
  recentClientIds: number;
  /** A resend's original is also looked for among this many of its conversation's newest messages. */
  resendLookback: number;
}

const DEFAULT_WINDOW: DuplicateWindow = { recentClientIds: 100_000, resendLookback: 10_000 };
/** Conversations whose last seq is kept in memory; beyond it the oldest are forgotten. */
const MAX_CACHED_SEQS = 100_000;
/** Rows deleted per statement by pruneBefore, which yields between chunks to keep the loop responsive. */
const PRUNE_CHUNK = 5000;

interface PendingAppend {
  msg: NewMessage;
  resend: boolean;
  /** Its clientKey, once the commit computed it (null for system messages). */
  key: number | null;
  resolve(result: AppendResult): void;
  reject(err: Error): void;
}

/**
 * The duplicate-check key of (conv, from, cid): a 53-bit hash (two 32-bit FNV-1a variants), so
 * the window holds numbers rather than strings the collector would trace. A hit is verified
 * against the stored row, so a collision can only cost a lookup, never a message.
 */
function clientKey(conv: string, from: string, cid: string): number {
  let h1 = 0x811c9dc5 | 0;
  let h2 = 0x9747b28c | 0;
  for (const s of [conv, from, cid]) {
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      h1 = Math.imul(h1 ^ c, 16777619);
      h2 = Math.imul(h2 ^ c, 0x5bd1e995);
    }
    // A separator that no id contains, so ("ab", "c") and ("a", "bc") differ.
    h1 = Math.imul(h1 ^ 0xffff, 16777619);
    h2 = Math.imul(h2 ^ 0xffff, 0x5bd1e995);
  }
  return (h1 >>> 0) * 0x200000 + ((h2 >>> 0) & 0x1fffff);
}

type InsertParams = [string, number, bigint, string, string, string, number, Uint8Array, number, string | null, number | null, number | null, Uint8Array];

const EMPTY = new Uint8Array(0);

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
  ref: number | null;
  edited: number | null;
  exp: number | null;
  frame: Uint8Array | null;
}

/** A message row's columns, from messages `m` joined to its message_index entry `s`. */
const COLUMNS = `m.conv_id AS conv, m.seq AS seq, CAST(m.id AS TEXT) AS id, m.sender AS "from", m.device AS dev, m.cid AS cid, m.kind AS kind, m.body AS body, m.ts AS ts, m.media AS media, m.ref AS ref, m.edited AS edited, m.exp AS exp, m.frame AS frame`;
/** Messages by (conv_id, seq): their message_index entries, then the rows they name. */
const BY_SEQ = "message_index s JOIN messages m ON m.rowid = s.row";

/**
 * How long after a commit its rows' message_index entries are written (schema.ts), together with
 * those of the commits in between: one page per conversation per batch instead of per commit.
 */
const SEQ_INDEX_DELAY_MS = 25;

/** A row committed and not yet in message_index: its conversation's number (conv_nums), seq, rowid. */
type Unindexed = [number, number, number];

function byConvSeq(a: Unindexed, b: Unindexed): number {
  return a[0] - b[0] || a[1] - b[1];
}

/**
 * An index key is a conversation's number (conv_nums) above SEQ_BITS bits of seq, computed by
 * SQLite: as a JavaScript number it would lose bits past 2^53. A conversation's seqs stay below
 * 2^36 (68 billion messages), and a store numbers at most 2^27 conversations (134 million): past
 * either, appends fail with an error rather than write a key another conversation's could be.
 */
const SEQ_BITS = 36;
const MAX_SEQ = 2 ** SEQ_BITS - 1;
const MAX_CONV_NUM = 2 ** (63 - SEQ_BITS) - 1;
/** The first index key of the conversation whose id is parameter `param`; null when it has no number (nothing of it is stored). */
const base = (param: string): string => `((SELECT num FROM conv_nums WHERE conv_id = ${param}) << ${SEQ_BITS})`;
/**
 * Index keys of the conversation whose id is ?1, with seqs in [lo, hi] (SQL expressions), held to
 * its own keys: a bound past 0 or MAX_SEQ (a caller's "after -1", "before Infinity") would reach
 * into the neighbouring conversations'.
 */
const seqsOf = (lo: string, hi: string): string => `s.key BETWEEN ${base("?1")} + max(${lo}, 0) AND ${base("?1")} + min(${hi}, ${MAX_SEQ})`;

/**
 * Deletes the oldest `limit` rows that `where` picks (its parameter ?1), with their message_index
 * entries, in one transaction; returns how many. Every row must have its entry (#indexNow first).
 */
function deleteChunk(db: Database, where: string): (param: number, limit: number) => number {
  const chunk = `SELECT rowid FROM messages WHERE ${where} ORDER BY rowid LIMIT ?2 + 0`;
  const entries = db.query<never, [number, number]>(
    `DELETE FROM message_index WHERE key IN (SELECT (n.num << ${SEQ_BITS}) + m.seq FROM messages m JOIN conv_nums n ON n.conv_id = m.conv_id WHERE m.rowid IN (${chunk}))`,
  );
  const rows = db.query<never, [number, number]>(`DELETE FROM messages WHERE rowid IN (${chunk})`);
  return db.transaction((param: number, limit: number) => {
    entries.run(param, limit);
    return rows.run(param, limit).changes;
  });
}

function toMessage(row: MessageRow): StoredMessage {
  if (row.frame !== null) return messageOfFrame(row.frame);
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
  if (row.ref !== null) message.ref = row.ref;
  if (row.edited !== null) message.edited = row.edited;
  if (row.exp !== null) message.exp = row.exp;
  return message;
}

/** The message as appended: the optional fields only when set, like toMessage. */
function storedAs(msg: NewMessage, seq: number): StoredMessage {
  const stored: StoredMessage = { conv: msg.conv, seq, id: msg.id, from: msg.from, dev: msg.dev, cid: msg.cid, kind: msg.kind, body: msg.body, ts: msg.ts };
  if (msg.media !== undefined) stored.media = msg.media;
  if (msg.ref !== undefined) stored.ref = msg.ref;
  if (msg.exp !== undefined) stored.exp = msg.exp;
  return stored;
}

/** Whether a stored message has the client id (and conversation, and sender) of `msg`. */
function sameClientId(stored: { conv: string; from: string; cid: string }, msg: NewMessage): boolean {
  return stored.cid === msg.cid && stored.from === msg.from && stored.conv === msg.conv;
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
  /** Rows committed whose message_index entries are not written yet, oldest first: always the newest rows. */
  #unindexed: Unindexed[] = [];
  #indexTimer: ReturnType<typeof setTimeout> | null = null;
  readonly #indexRows: { immediate(entries: Unindexed[]): void };

  /** conversation id -> last seq committed, for the conversations used since open (the oldest are forgotten, and read again if needed). */
  readonly #lastSeqs = new BoundedMap<string, number>(MAX_CACHED_SEQS);
  /**
   * conversation id -> its first retained seq, for the conversations asked since open. A resume
   * asks it for every conversation of the user. Appends never change it: a conversation with no
   * rows left answers its last seq + 1, the seq its next row gets. Only deleting rows (pruning)
   * does, and forgets every entry.
   */
  readonly #firstSeqs = new BoundedMap<string, number>(MAX_CACHED_SEQS);
  /** conversation id -> its number in conv_nums, for the conversations used since open (the oldest are forgotten, and read again if needed). */
  readonly #convNums = new BoundedMap<string, number>(MAX_CACHED_SEQS);
  /** conv_nums rows inserted by the transaction under way: forgotten again should it roll back. */
  #numbered: string[] = [];
  readonly #convNumOf: Statement<{ num: number }, [string]>;
  readonly #addConvNum: Statement<never, [string]>;
  /** clientKey -> seq, for the client ids stored most recently (oldest first). */
  readonly #recent: BoundedNumberMap;
  readonly #commitBatch: (batch: PendingAppend[]) => AppendResult[];
  readonly #bySeq: Statement<MessageRow, [string, number]>;
  readonly #resendLookup: Statement<MessageRow, [string, number, string, string]>;
  readonly #range: Statement<MessageRow, [string, number, number]>;
  readonly #rangeFrames: Statement<StoredFrame & { frame: Uint8Array | null }, [string, number, number]>;
  readonly #history: Statement<MessageRow, [string, number, number]>;
  readonly #storedLastSeq: Statement<{ lastSeq: number }, [string]>;
  readonly #firstSeq: Statement<{ seq: number | null }, [string]>;
  readonly #bySender: Statement<{ sender: string; seq: number }, [string]>;
  readonly #keepLastSeqs: Statement<never, [number]>;
  readonly #pruneChunk: (tsMs: number, limit: number) => number;
  readonly #keepExpiringLastSeqs: Statement<never, [number]>;
  readonly #pruneExpiredChunk: (nowMs: number, limit: number) => number;
  readonly #rewrite: Statement<never, [number, string | null, number | null, number | null, Uint8Array, string, number]>;

  readonly #window: DuplicateWindow;

  constructor(
    db: Database,
    window: DuplicateWindow = DEFAULT_WINDOW,
    /** Told after each commit (the checkpointer watches the WAL grow: checkpointer.ts). */
    private readonly afterCommit: () => void = () => {},
    /** After a commit, when its rows' message_index entries are written; null: only before a read or at close (tests: a crash in between). */
    private readonly seqIndexDelayMs: number | null = SEQ_INDEX_DELAY_MS,
  ) {
    this.#window = window;
    this.#recent = new BoundedNumberMap(window.recentClientIds);
    const insert = db.query<never, InsertParams>(
      `INSERT INTO messages (conv_id, seq, id, sender, device, cid, kind, body, ts, media, ref, exp, frame) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.#convNumOf = db.query(`SELECT num FROM conv_nums WHERE conv_id = ?`);
    this.#addConvNum = db.query(`INSERT INTO conv_nums (conv_id) VALUES (?)`);
    // OR IGNORE: another connection that opened a store on the file meanwhile indexed these rows at
    // its open, the same entries (owner-lock.ts keeps a second msgr process out; anything else
    // could), and a batch that failed on them would fail every read after it.
    const indexRow = db.query<never, Unindexed>(`INSERT OR IGNORE INTO message_index (key, row) VALUES ((?1 << ${SEQ_BITS}) + ?2, ?3)`);
    this.#indexRows = db.transaction((entries: Unindexed[]) => {
      for (const e of entries) indexRow.run(e[0], e[1], e[2]);
    });
    this.#bySeq = db.query(`SELECT ${COLUMNS} FROM ${BY_SEQ} WHERE ${seqsOf("?2", "?2")}`);
    // A range of message_index, newest first: the original of a resend is nearly always recent.
    this.#resendLookup = db.query(`SELECT ${COLUMNS} FROM ${BY_SEQ} WHERE ${seqsOf("?2 + 1", String(MAX_SEQ))} AND m.sender = ?3 AND m.cid = ?4 ORDER BY s.key DESC LIMIT 1`);
    this.#storedLastSeq = db.query(
      `SELECT max(coalesce((SELECT last_seq FROM conv_seq WHERE conv_id = ?1), 0), coalesce((SELECT max(s.key) FROM message_index s WHERE ${seqsOf("0", String(MAX_SEQ))}) - ${base("?1")}, 0)) AS lastSeq`,
    );
    // The rows of this batch, for message_index once it committed.
    let added: Unindexed[] = [];

    const transaction = db.transaction((batch: PendingAppend[]): AppendResult[] => {
      // conv -> last seq assigned so far in this batch, on top of what is committed.
      const assigned = new Map<string, number>();
      // clientKey -> message stored earlier in this batch.
      const inBatch = new Map<number, StoredMessage>();
      added = [];
      return batch.map((p): AppendResult => {
        const { msg, resend, key } = p;
        const last = assigned.get(msg.conv) ?? this.#lastSeqOf(msg.conv);
        if (key !== null) {
          const earlier = inBatch.get(key);
          const original = earlier && sameClientId(earlier, msg) ? earlier : this.#original(msg, key, last, resend);
          if (original) return { message: original, duplicate: true };
        }
        const seq = last + 1;
        if (seq > MAX_SEQ) throw new RangeError(`conversation ${msg.conv} has reached the store's last seq (${MAX_SEQ})`);
        const num = this.#convNum(msg.conv);
        // The body goes into the frame, where anything encodes: what the column refused, refuse here.
        if (!(msg.body instanceof Uint8Array)) throw new TypeError("a message body must be bytes");
        const stored = storedAs(msg, seq);
        // The frame every local device is then sent (encoded once per message object).
        const { lastInsertRowid } = insert.run(msg.conv, seq, msg.id, msg.from, msg.dev, msg.cid, msg.kind, EMPTY, msg.ts, msg.media ?? null, msg.ref ?? null, msg.exp ?? null, messageFrame(stored));
        added.push([num, seq, Number(lastInsertRowid)]);
        assigned.set(msg.conv, seq);
        if (key !== null) inBatch.set(key, stored);
        return { message: stored, duplicate: false };
      });
    });
    // IMMEDIATE: take the write lock up front rather than fail upgrading a read lock when another
    // connection (a CLI tool) wrote in between. The in-memory state moves only once it committed.
    this.#commitBatch = (batch) => {
      const results = this.#numbering(() => transaction.immediate(batch));
      for (let i = 0; i < results.length; i++) {
        const { message: m, duplicate } = results[i]!;
        if (duplicate) continue;
        this.#lastSeqs.set(m.conv, m.seq);
        const key = batch[i]!.key;
        if (key !== null) this.#recent.set(key, m.seq);
      }
      this.#unindexedAdd(added);
      return results;
    };

    // Rows a crash left past message_index: the newest rows, down to the first one it has
    // (entries are written in commit order, all that are waiting at once).
    const hasEntry = db.query<{ one: number }, [string, number]>(`SELECT 1 AS one FROM message_index s WHERE ${seqsOf("?2", "?2")}`);
    const missing: { conv: string; seq: number; row: number }[] = [];
    const newestFirst = db.prepare<{ row: number; conv: string; seq: number }, []>(`SELECT rowid AS row, conv_id AS conv, seq FROM messages ORDER BY rowid DESC`);
    try {
      for (const r of newestFirst.iterate()) {
        if (hasEntry.get(r.conv, r.seq)) break;
        missing.push(r);
      }
    } finally {
      newestFirst.finalize();
    }
    if (missing.length > 0) {
      // Their conversations were numbered in the commits that wrote them, or never (a database
      // from before conv_nums whose rows a crash left unindexed): numbered here then.
      const number = db.transaction(() => missing.map((r): Unindexed => [this.#convNum(r.conv), r.seq, r.row]));
      const entries = this.#numbering(() => number.immediate());
      this.#indexRows.immediate(entries.sort(byConvSeq));
    }

    // The window survives restarts: it starts as the client ids of the newest rows (the table is
    // in insertion order), so a client that retransmits after a crash or a restart is recognised.
    const newest = db.query<{ conv: string; sender: string; cid: string; seq: number }, [number]>(
      `SELECT conv_id AS conv, sender, cid, seq FROM messages WHERE cid <> '' ORDER BY rowid DESC LIMIT ?`,
    ).all(window.recentClientIds);
    for (let i = newest.length - 1; i >= 0; i--) {
      const r = newest[i]!;
      this.#recent.set(clientKey(r.conv, r.sender, r.cid), r.seq);
    }

    // `LIMIT ? + 0`, not `LIMIT ?`: Bun's SQLite (3.53) runs a statement whose LIMIT is a bare
    // parameter about 8 µs slower every time (it appears to plan it again once the parameter is
    // bound), against 1.5 µs for the whole one-row read with the limit as an expression. A resume
    // reads one page per conversation, so this was most of its store time.
    this.#range = db.query(`SELECT ${COLUMNS} FROM ${BY_SEQ} WHERE ${seqsOf("?2 + 1", String(MAX_SEQ))} ORDER BY s.key LIMIT ?3 + 0`);
    this.#history = db.query(`SELECT ${COLUMNS} FROM ${BY_SEQ} WHERE ${seqsOf("0", "?2 - 1")} ORDER BY s.key DESC LIMIT ?3 + 0`);
    this.#rangeFrames = db.query(`SELECT m.seq AS seq, m.kind AS kind, m.exp AS exp, m.frame AS frame FROM ${BY_SEQ} WHERE ${seqsOf("?2 + 1", String(MAX_SEQ))} ORDER BY s.key LIMIT ?3 + 0`);
    this.#firstSeq = db.query(`SELECT min(s.key) - ${base("?1")} AS seq FROM message_index s WHERE ${seqsOf("0", String(MAX_SEQ))}`);
    this.#bySender = db.query(`SELECT m.sender AS sender, max(m.seq) AS seq FROM ${BY_SEQ} WHERE ${seqsOf("0", String(MAX_SEQ))} GROUP BY m.sender`);
    // Before old rows go, the last seqs they hold are recorded, so that deleting a
    // conversation's newest rows never lowers its last seq.
    this.#keepLastSeqs = db.query(
      `INSERT INTO conv_seq (conv_id, last_seq) SELECT conv_id, max(seq) FROM messages WHERE ts < ? GROUP BY conv_id
       ON CONFLICT (conv_id) DO UPDATE SET last_seq = max(last_seq, excluded.last_seq)`,
    );
    this.#pruneChunk = deleteChunk(db, "ts < ?1");
    // Disappearing messages, through the partial index on exp (only they have an entry).
    this.#keepExpiringLastSeqs = db.query(
      `INSERT INTO conv_seq (conv_id, last_seq) SELECT conv_id, max(seq) FROM messages WHERE exp IS NOT NULL AND exp <= ? GROUP BY conv_id
       ON CONFLICT (conv_id) DO UPDATE SET last_seq = max(last_seq, excluded.last_seq)`,
    );
    this.#pruneExpiredChunk = deleteChunk(db, "exp IS NOT NULL AND exp <= ?1");
    this.#rewrite = db.query(
      `UPDATE messages SET kind = ?1, body = x'', media = ?2, ref = ?3, edited = ?4, frame = ?5 WHERE rowid = (SELECT row FROM message_index WHERE key = ${base("?6")} + ?7)`,
    );
  }

  /**
   * The conversation's number in conv_nums; numbered now if it has none, which only a write
   * transaction may do (inside #numbering, which forgets the number again should it roll back).
   */
  #convNum(conv: string): number {
    let num = this.#convNums.get(conv);
    if (num !== undefined) return num;
    num = this.#convNumOf.get(conv)?.num;
    if (num === undefined) {
      num = Number(this.#addConvNum.run(conv).lastInsertRowid);
      if (num > MAX_CONV_NUM) throw new RangeError(`the store has numbered its last conversation (${MAX_CONV_NUM})`);
      this.#numbered.push(conv);
    }
    this.#convNums.set(conv, num);
    return num;
  }

  /** Runs `transaction`; the conversations it numbered are forgotten if it throws (it rolled back). */
  #numbering<T>(transaction: () => T): T {
    this.#numbered = [];
    try {
      return transaction();
    } catch (err) {
      for (const conv of this.#numbered) this.#convNums.delete(conv);
      throw err;
    } finally {
      this.#numbered = [];
    }
  }

  /** The stored original of a duplicate client id, or null: the recent window, then for a resend the store. */
  #original(msg: NewMessage, key: number, last: number, resend: boolean): StoredMessage | null {
    const seq = this.#recent.get(key);
    if (seq !== undefined) {
      const row = this.#bySeq.get(msg.conv, seq);
      if (row && sameClientId(row, msg)) return toMessage(row);
    }
    if (!resend) return null;
    const row = this.#resendLookup.get(msg.conv, last - this.#window.resendLookback, msg.from, msg.cid);
    return row ? toMessage(row) : null;
  }

  /** The conversation's last seq: from memory, or read once from the database. */
  #lastSeqOf(conv: string): number {
    let last = this.#lastSeqs.get(conv);
    if (last === undefined) {
      this.#indexNow();
      last = this.#storedLastSeq.get(conv)?.lastSeq ?? 0;
      this.#lastSeqs.set(conv, last);
    }
    return last;
  }

  append(msg: NewMessage, opts?: AppendOptions): Promise<AppendResult> {
    if (this.#closed) return Promise.reject(new Error("message store is closed"));
    return new Promise<AppendResult>((resolve, reject) => {
      this.#pending.push({ msg, resend: opts?.resend === true, key: null, resolve, reject });
      if (this.#pending.length >= MAX_BATCH) {
        this.#commitPending();
      } else if (!this.#flushScheduled) {
        // At the turn's end, not in a microtask: after pending I/O callbacks, so appends from
        // every socket read in this loop turn share the commit.
        this.#flushScheduled = true;
        atTurnEnd(() => {
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
      // A commit reads the store for a conversation whose last seq is not in memory and for the
      // original of a possible duplicate: message_index must have every row first (not written
      // inside the commit, whose failure would take the entries with it).
      let reads = false;
      for (const p of batch) {
        const { msg } = p;
        // System messages (empty cid) are never duplicates.
        p.key = msg.cid === "" ? null : clientKey(msg.conv, msg.from, msg.cid);
        if (p.resend || !this.#lastSeqs.has(msg.conv) || (p.key !== null && this.#recent.has(p.key))) reads = true;
      }
      if (reads) this.#indexNow();
      results = this.#commitBatch(batch);
    } catch (err) {
      // Nothing was committed, so no seq was consumed: every append of the batch fails.
      const error = err instanceof Error ? err : new Error(String(err));
      for (const p of batch) p.reject(error);
      return;
    }
    batch.forEach((p, i) => p.resolve(results[i]!));
    this.afterCommit();
  }

  async flush(): Promise<void> {
    this.#commitPending();
    this.#indexNow();
  }

  /** Notes a commit's rows for message_index, written SEQ_INDEX_DELAY_MS later with any that follow. */
  #unindexedAdd(rows: Unindexed[]): void {
    if (rows.length === 0) return;
    for (const r of rows) this.#unindexed.push(r);
    if (this.#indexTimer !== null || this.seqIndexDelayMs === null) return;
    this.#indexTimer = setTimeout(() => {
      this.#indexTimer = null;
      try {
        this.#indexNow();
      } catch {
        // The entries stay, for the next commit's timer or the next read (which reports the error).
      }
    }, this.seqIndexDelayMs);
    this.#indexTimer.unref?.();
  }

  /**
   * Writes the waiting message_index entries, sorted (each conversation's page once), in one
   * transaction; before any read by (conv_id, seq). They stay waiting if it fails.
   */
  #indexNow(): void {
    if (this.#indexTimer !== null) {
      clearTimeout(this.#indexTimer);
      this.#indexTimer = null;
    }
    const entries = this.#unindexed;
    if (entries.length === 0) return;
    this.#indexRows.immediate(entries.sort(byConvSeq));
    this.#unindexed = [];
    this.afterCommit();
  }

  async lastSeq(conv: string): Promise<number> {
    return this.#lastSeqOf(conv);
  }

  async firstRetainedSeq(conv: string): Promise<number> {
    let first = this.#firstSeqs.get(conv);
    if (first !== undefined) return first;
    this.#indexNow();
    first = this.#firstSeq.get(conv)?.seq ?? this.#lastSeqOf(conv) + 1;
    this.#firstSeqs.set(conv, first);
    return first;
  }

  async range(conv: string, afterSeq: number, limit: number): Promise<StoredMessage[]> {
    this.#indexNow();
    return this.#range.all(conv, afterSeq, clampLimit(limit)).map(toMessage);
  }

  async frames(conv: string, afterSeq: number, limit: number): Promise<StoredFrame[]> {
    this.#indexNow();
    const rows = this.#rangeFrames.all(conv, afterSeq, clampLimit(limit));
    // Rows from before frames (every backlog, just after the upgrade): the page read once more
    // from its columns, and those rows encoded; not a read per row.
    if (rows.some((r) => r.frame === null)) {
      const bySeq = new Map(this.#range.all(conv, afterSeq, clampLimit(limit)).map((row) => [row.seq, row]));
      for (const r of rows) if (r.frame === null) r.frame = messageFrame(toMessage(bySeq.get(r.seq)!));
    }
    return rows as StoredFrame[];
  }

  async history(conv: string, beforeSeq: number, limit: number): Promise<StoredMessage[]> {
    this.#indexNow();
    return this.#history.all(conv, beforeSeq, clampLimit(limit)).map(toMessage);
  }

  async lastSeqBySender(conv: string): Promise<Map<string, number>> {
    this.#indexNow();
    return new Map(this.#bySender.all(conv).map((r) => [r.sender, r.seq]));
  }

  async pruneBefore(tsMs: number): Promise<number> {
    this.#keepLastSeqs.run(tsMs);
    let deleted = 0;
    for (;;) {
      this.#indexNow();
      const changes = this.#pruneChunk(tsMs, PRUNE_CHUNK);
      this.#firstSeqs.clear();
      deleted += changes;
      if (changes < PRUNE_CHUNK) return deleted;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  async pruneExpired(nowMs: number): Promise<number> {
    this.#keepExpiringLastSeqs.run(nowMs);
    let deleted = 0;
    for (;;) {
      this.#indexNow();
      const changes = this.#pruneExpiredChunk(nowMs, PRUNE_CHUNK);
      this.#firstSeqs.clear();
      deleted += changes;
      if (changes < PRUNE_CHUNK) return deleted;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  /**
   * In place. The database runs with secure_delete (db.ts), so the old body's bytes are zeroed in
   * the page rather than left in free space; the WAL holds them until its next checkpoint.
   */
  async rewrite(m: StoredMessage): Promise<void> {
    // Appends still pending may include this message: commit them first.
    this.#commitPending();
    this.#indexNow();
    const row = this.#bySeq.get(m.conv, m.seq);
    if (!row) return;
    // The frame says the new content with the row's own fields: only those below change.
    const { media: _media, ref: _ref, edited: _edited, ...kept } = toMessage(row);
    const now: StoredMessage = { ...kept, kind: m.kind, body: m.body };
    if (m.media !== undefined) now.media = m.media;
    if (m.ref !== undefined) now.ref = m.ref;
    if (m.edited !== undefined) now.edited = m.edited;
    this.#rewrite.run(m.kind, m.media ?? null, m.ref ?? null, m.edited ?? null, messageFrame(now), m.conv, m.seq);
  }

  /** Commits what is pending and refuses further appends; the connection is closed by its owner. */
  async close(): Promise<void> {
    this.#commitPending();
    this.#indexNow();
    this.#closed = true;
  }
}
