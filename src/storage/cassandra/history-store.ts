// The history store on Apache Cassandra or ScyllaDB (cassandra-driver speaks CQL to both). The
// write-behind worker writes log entries here; the log-backed MessageStore reads history and
// resume ranges from here and fills what is not flushed yet from the log. Every statement is
// prepared, routed token-aware to a replica in the local data center, at LOCAL_QUORUM by default.

import cassandra from "cassandra-driver";
import type { Logger } from "pino";
import type { Config } from "../../config/config.ts";
import type { CassandraConnection } from "../../connect/cassandra.ts";
import type { LogEntry, Rewrite } from "../jetstream/envelope.ts";
import type { StoredMessage } from "../types.ts";
import { ADDED_MESSAGE_COLUMNS, bucketOf, schemaStatements } from "./schema.ts";

/** The `cassandra` settings (documented in src/config/config.ts), and the rows' TTL. */
export type CassandraOptions = Omit<Config["cassandra"], "username" | "passwordFile" | "tls" | "tlsCaFile"> & {
  /** Rows expire this long after they are written; 0 keeps them (storage.retentionSeconds). */
  ttlSeconds: number;
  log: Logger;
  /** Credentials and TLS (src/connect/cassandra.ts). */
  connection?: CassandraConnection;
};

export type WriteMode = Config["worker"]["writeMode"];

/** Statements per unlogged batch stay under this many body bytes (Cassandra fails batches over 50 KiB by default). */
const MAX_BATCH_BYTES = 32 * 1024;
/**
 * Write requests (statements or batches) in flight at once. Workers pipeline several writes, and
 * the driver refuses requests beyond its per-connection limit (2,048) instead of queueing them.
 */
const MAX_WRITE_REQUESTS = 512;

type Row = cassandra.types.Row;

/** One row write. */
export interface Statement {
  query: string;
  params: unknown[];
  /** Statements with the same key share a partition and may share an unlogged batch. */
  partition: string;
  bytes: number;
}

function toMessage(row: Row): StoredMessage {
  const body = row.body as Buffer;
  const message: StoredMessage = {
    conv: row.conv as string,
    seq: Number(row.seq),
    id: row.id as bigint,
    from: row.sender as string,
    dev: row.device as string,
    cid: row.cid as string,
    kind: row.kind as number,
    // A plain Uint8Array view of the driver's Buffer, like every other backend's body.
    body: new Uint8Array(body.buffer, body.byteOffset, body.byteLength),
    ts: Number(row.ts),
  };
  if (row.media !== null) message.media = row.media as string;
  if (row.ref !== null) message.ref = Number(row.ref);
  if (row.edited !== null) message.edited = Number(row.edited);
  if (row.exp !== null) message.exp = Number(row.exp);
  return message;
}

const toEntry = (row: Row): LogEntry => ({ message: toMessage(row), logSeq: Number(row.log_seq) });

/**
 * A row the worker has not written yet holds only the cells a rewrite set (no id): the log
 * still holds the message, and the rewrite is applied to it when it is read from there.
 */
const isRewriteOnly = (row: Row): boolean => row.id === null;

function toRewrite(row: Row): Rewrite {
  const body = row.body as Buffer | null;
  const r: Rewrite = { kind: row.kind as number, body: body ? new Uint8Array(body.buffer, body.byteOffset, body.byteLength) : new Uint8Array(0) };
  if (row.media !== null) r.media = row.media as string;
  if (row.ref !== null) r.ref = Number(row.ref);
  if (row.edited !== null) r.edited = Number(row.edited);
  return r;
}

/** The rows of a read: the messages, and the rewrites of messages not written yet (by seq). */
function split(rows: Row[], rewrites: Map<number, Rewrite> | undefined): LogEntry[] {
  const out: LogEntry[] = [];
  for (const r of rows) {
    if (!isRewriteOnly(r)) out.push(toEntry(r));
    else rewrites?.set(Number(r.seq), toRewrite(r));
  }
  return out;
}

/**
 * Seconds a row (or a rewrite's cells) lives from now: retention (storage.retentionSeconds, from
 * when it is written), or the message's own expiry (disappearing) when that comes first; 0: for
 * ever. `slackSec` makes a rewrite's cells outlive the row they overwrite, never the other way
 * round (a row must not show its old content again when the rewrite expires first).
 */
function ttlOf(m: Pick<StoredMessage, "exp">, retentionSec: number, nowMs: number, slackSec = 0): number {
  if (m.exp === undefined) return retentionSec;
  const own = Math.max(1, Math.ceil((m.exp - nowMs) / 1000) + slackSec);
  return retentionSec > 0 ? Math.min(own, retentionSec) : own;
}

export class CassandraHistory {
  private readonly q: Record<string, string>;
  private writeRequests = 0;
  private readonly writeSlots: (() => void)[] = [];

  private constructor(
    private readonly client: cassandra.Client,
    keyspace: string,
    private readonly ttlSeconds: number,
  ) {
    const ks = keyspace;
    const cols = "conv, seq, id, sender, device, cid, kind, body, ts, media, log_seq, ref, edited, exp";
    this.q = {
      // Written at the message's own time (µs): a rewrite, written later, wins over it even when
      // it lands first (the worker may write the row after the message was edited or deleted).
      insertMessage: `INSERT INTO ${ks}.messages (conv, bucket, seq, id, sender, device, cid, kind, body, ts, media, log_seq, ref, exp) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) USING TTL ? AND TIMESTAMP ?`,
      rewrite: `UPDATE ${ks}.messages USING TTL ? AND TIMESTAMP ? SET kind = ?, body = ?, media = ?, ref = ?, edited = ? WHERE conv = ? AND bucket = ? AND seq = ?`,
      insertBucket: `INSERT INTO ${ks}.conv_buckets (conv, bucket) VALUES (?, ?) USING TTL ?`,
      insertClientId: `INSERT INTO ${ks}.client_ids (conv, sender, cid, seq) VALUES (?, ?, ?, ?) USING TTL ?`,
      insertSenderLast: `INSERT INTO ${ks}.sender_last (conv, sender, seq) VALUES (?, ?, ?) USING TIMESTAMP ?`,
      insertConvLast: `INSERT INTO ${ks}.conv_last (conv, seq) VALUES (?, ?) USING TIMESTAMP ?`,
      rangeAsc: `SELECT ${cols} FROM ${ks}.messages WHERE conv = ? AND bucket = ? AND seq > ? AND seq <= ? ORDER BY seq ASC LIMIT ?`,
      rangeDesc: `SELECT ${cols} FROM ${ks}.messages WHERE conv = ? AND bucket = ? AND seq < ? AND seq >= ? LIMIT ?`,
      one: `SELECT ${cols} FROM ${ks}.messages WHERE conv = ? AND bucket = ? AND seq = ?`,
      oldestInBucket: `SELECT seq FROM ${ks}.messages WHERE conv = ? AND bucket = ? ORDER BY seq ASC LIMIT 1`,
      bucketsDesc: `SELECT bucket FROM ${ks}.conv_buckets WHERE conv = ? AND bucket <= ?`,
      bucketsAsc: `SELECT bucket FROM ${ks}.conv_buckets WHERE conv = ? ORDER BY bucket ASC`,
      clientId: `SELECT seq FROM ${ks}.client_ids WHERE conv = ? AND sender = ? AND cid = ?`,
      senderLast: `SELECT sender, seq FROM ${ks}.sender_last WHERE conv = ?`,
      convLast: `SELECT seq FROM ${ks}.conv_last WHERE conv = ?`,
    };
  }

  static async open(opts: CassandraOptions): Promise<CassandraHistory> {
    const { loadBalancing, reconnection } = cassandra.policies;
    const client = new cassandra.Client({
      ...opts.connection,
      contactPoints: opts.contactPoints,
      localDataCenter: opts.localDataCenter,
      // Token-aware over DC-aware round robin: each statement goes straight to a replica of its
      // partition in the local data center, never across data centers.
      policies: {
        loadBalancing: new loadBalancing.TokenAwarePolicy(new loadBalancing.DCAwareRoundRobinPolicy(opts.localDataCenter)),
        // The default backoff grows to 10 minutes: after an outage of minutes the worker would sit
        // idle long after the store is back. Retry at most every 5 s instead.
        reconnection: new reconnection.ExponentialReconnectionPolicy(250, 5_000, false),
      },
      queryOptions: { consistency: cassandra.types.consistencies[opts.consistency as keyof typeof cassandra.types.consistencies], prepare: true },
      socketOptions: { ...opts.connection?.socketOptions, readTimeout: opts.requestTimeoutMs, connectTimeout: Math.min(opts.requestTimeoutMs, 5_000) },
      // 64-bit ids and seqs as JS bigint, both ways.
      encoding: { useBigIntAsLong: true },
    });
    await client.connect();
    // Idempotent; the driver waits for schema agreement after each change.
    for (const ddl of schemaStatements(opts)) await client.execute(ddl, [], { prepare: false });
    await addMissingColumns(client, opts.keyspace);
    opts.log.info({ keyspace: opts.keyspace, contactPoints: opts.contactPoints }, "history store ready");
    return new CassandraHistory(client, opts.keyspace, opts.ttlSeconds);
  }

  /**
   * Writes log entries. Rows are keyed by what the log fixed (conv, seq), so writing an entry
   * again writes the same row with the same values: replays are idempotent. Resolves once every
   * statement is acknowledged at the configured consistency; rejects if any fails (the caller
   * retries the whole set, which is safe for the same reason).
   */
  async write(entries: LogEntry[], mode: WriteMode): Promise<void> {
    const { lasts, rows } = this.statements(entries);
    // Senders' and conversations' last seqs first: a reader that sees a message row then also
    // sees its sender's seq, and the conversation's last seq never lags a stored row.
    await this.run(lasts, mode);
    await this.run(rows, mode);
  }

  private async run(statements: Statement[], mode: WriteMode): Promise<void> {
    if (mode === "concurrent") {
      await Promise.all(statements.map((s) => this.limited(() => this.client.execute(s.query, s.params, { prepare: true }))));
      return;
    }
    await Promise.all(
      this.batches(statements).map((group) =>
        this.limited(() => (group.length === 1 ? this.client.execute(group[0]!.query, group[0]!.params, { prepare: true }) : this.client.batch(group, { prepare: true, logged: false }))),
      ),
    );
  }

  /** Runs a write request once fewer than MAX_WRITE_REQUESTS are in flight. */
  private async limited<T>(request: () => Promise<T>): Promise<T> {
    while (this.writeRequests >= MAX_WRITE_REQUESTS) await new Promise<void>((r) => this.writeSlots.push(r));
    this.writeRequests++;
    try {
      return await request();
    } finally {
      this.writeRequests--;
      this.writeSlots.shift()?.();
    }
  }

  /**
   * The row writes `write` makes for these entries: the last-seq rows, then the message rows.
   * The bench's store ceiling sends exactly these with the driver alone.
   */
  statements(entries: LogEntry[]): { lasts: Statement[]; rows: Statement[] } {
    const ttl = this.ttlSeconds;
    const now = Date.now();
    const out: Statement[] = [];
    const buckets = new Set<string>();
    const senderLast = new Map<string, { conv: string; sender: string; seq: number }>();
    const convLast = new Map<string, number>();
    for (const { message: m, logSeq } of entries) {
      const bucket = bucketOf(m.seq);
      out.push({
        query: this.q.insertMessage!,
        // The driver takes blobs only as Buffers: a view, not a copy.
        params: [
          m.conv, bucket, BigInt(m.seq), m.id, m.from, m.dev, m.cid, m.kind, Buffer.from(m.body.buffer, m.body.byteOffset, m.body.byteLength), BigInt(m.ts), m.media ?? null, BigInt(logSeq),
          m.ref === undefined ? null : BigInt(m.ref), m.exp === undefined ? null : BigInt(m.exp),
          ttlOf(m, ttl, now), BigInt(m.ts) * 1000n,
        ],
        partition: `m\0${m.conv}\0${bucket}`,
        bytes: m.body.byteLength + 128,
      });
      const bk = `${m.conv}\0${bucket}`;
      if (!buckets.has(bk)) {
        buckets.add(bk);
        out.push({ query: this.q.insertBucket!, params: [m.conv, bucket, ttl], partition: `b\0${m.conv}`, bytes: 64 });
      }
      if (m.cid) out.push({ query: this.q.insertClientId!, params: [m.conv, m.from, m.cid, BigInt(m.seq), ttl], partition: `c\0${m.conv}\0${m.from}`, bytes: 128 });
      if (m.from) {
        const key = `${m.conv}\0${m.from}`;
        if ((senderLast.get(key)?.seq ?? 0) < m.seq) senderLast.set(key, { conv: m.conv, sender: m.from, seq: m.seq });
      }
      if ((convLast.get(m.conv) ?? 0) < m.seq) convLast.set(m.conv, m.seq);
    }
    const lasts = [...senderLast.values()].map((s) => ({ query: this.q.insertSenderLast!, params: [s.conv, s.sender, BigInt(s.seq), BigInt(s.seq)], partition: `s\0${s.conv}`, bytes: 64 }));
    for (const [conv, seq] of convLast) lasts.push({ query: this.q.insertConvLast!, params: [conv, BigInt(seq), BigInt(seq)], partition: `l\0${conv}`, bytes: 64 });
    return { lasts, rows: out };
  }

  /** Groups statements into single-partition unlogged batches of bounded size. */
  batches(statements: Statement[]): Statement[][] {
    const open = new Map<string, { group: Statement[]; bytes: number }>();
    const done: Statement[][] = [];
    for (const s of statements) {
      const cur = open.get(s.partition);
      if (cur && cur.bytes + s.bytes <= MAX_BATCH_BYTES) {
        cur.group.push(s);
        cur.bytes += s.bytes;
        continue;
      }
      if (cur) done.push(cur.group);
      open.set(s.partition, { group: [s], bytes: s.bytes });
    }
    for (const { group } of open.values()) done.push(group);
    return done;
  }

  private async rows(query: string, params: unknown[]): Promise<Row[]> {
    return (await this.client.execute(query, params, { prepare: true })).rows;
  }

  /**
   * Stored messages with afterSeq < seq <= upToSeq, ascending, at most `limit`. Rewrites of
   * messages in that range that are not written yet go into `rewrites`, by seq.
   */
  async range(conv: string, afterSeq: number, upToSeq: number, limit: number, rewrites?: Map<number, Rewrite>): Promise<LogEntry[]> {
    const out: LogEntry[] = [];
    for (let b = bucketOf(afterSeq + 1); b <= bucketOf(upToSeq) && out.length < limit; b++) {
      out.push(...split(await this.rows(this.q.rangeAsc!, [conv, b, BigInt(afterSeq), BigInt(upToSeq), limit - out.length]), rewrites));
    }
    return out;
  }

  /** Stored messages with downToSeq <= seq < beforeSeq, descending, at most `limit`; `rewrites` as for range. */
  async history(conv: string, beforeSeq: number, downToSeq: number, limit: number, rewrites?: Map<number, Rewrite>): Promise<LogEntry[]> {
    const out: LogEntry[] = [];
    for (let b = bucketOf(beforeSeq - 1); b >= bucketOf(Math.max(0, downToSeq)) && out.length < limit; b--) {
      out.push(...split(await this.rows(this.q.rangeDesc!, [conv, b, BigInt(beforeSeq), BigInt(downToSeq), limit - out.length]), rewrites));
    }
    return out;
  }

  /**
   * Overwrites a message's content cells (MessageStore.rewrite), keeping the row's expiry. A
   * message the worker has not written yet gets a row of these cells alone, which its insert
   * completes later (see insertMessage).
   */
  async rewrite(m: StoredMessage): Promise<void> {
    const now = Date.now();
    const body = Buffer.from(m.body.buffer, m.body.byteOffset, m.body.byteLength);
    await this.client.execute(
      this.q.rewrite!,
      [ttlOf(m, this.ttlSeconds, now, 1), this.rewriteTimestamp(m.ts), m.kind, body, m.media ?? null, m.ref === undefined ? null : BigInt(m.ref), m.edited === undefined ? null : BigInt(m.edited), m.conv, bucketOf(m.seq), BigInt(m.seq)],
      { prepare: true },
    );
  }

  private lastRewriteUs = 0n;

  /** Write timestamps of rewrites: later than the row's insert, and increasing in this process (a second edit wins over the first). */
  private rewriteTimestamp(tsMs: number): bigint {
    const us = BigInt(Math.max(Date.now(), tsMs + 1)) * 1000n;
    this.lastRewriteUs = us > this.lastRewriteUs ? us : this.lastRewriteUs + 1n;
    return this.lastRewriteUs;
  }

  /** The stored message with the highest seq below `beforeSeq` (the newest one by default). */
  async newestBelow(conv: string, beforeSeq = Number.MAX_SAFE_INTEGER): Promise<LogEntry | null> {
    for (const { bucket } of await this.rows(this.q.bucketsDesc!, [conv, bucketOf(beforeSeq - 1)])) {
      let before = BigInt(beforeSeq);
      for (;;) {
        const [row] = await this.rows(this.q.rangeDesc!, [conv, bucket, before, 0n, 1]);
        if (!row) break;
        if (!isRewriteOnly(row)) return toEntry(row);
        before = BigInt(row.seq as bigint);
      }
    }
    return null;
  }

  /**
   * The conversation's highest stored seq, 0 when it has none: its conv_last row (which never
   * expires), or for conversations stored before that table existed, the newest row.
   */
  async tail(conv: string): Promise<number> {
    const [row] = await this.rows(this.q.convLast!, [conv]);
    if (row) return Number(row.seq);
    return (await this.newestBelow(conv))?.message.seq ?? 0;
  }

  /** The lowest stored seq, or null when nothing is stored (or everything expired). */
  async oldestSeq(conv: string): Promise<number | null> {
    for (const { bucket } of await this.rows(this.q.bucketsAsc!, [conv])) {
      const [row] = await this.rows(this.q.oldestInBucket!, [conv, bucket]);
      if (row) return Number(row.seq);
    }
    return null;
  }

  /** The stored message a sender sent with client id `cid`, if there is one. */
  async byClientId(conv: string, sender: string, cid: string): Promise<StoredMessage | null> {
    const [hit] = await this.rows(this.q.clientId!, [conv, sender, cid]);
    if (!hit) return null;
    const seq = Number(hit.seq);
    const [row] = await this.rows(this.q.one!, [conv, bucketOf(seq), BigInt(seq)]);
    return row && !isRewriteOnly(row) ? toMessage(row) : null;
  }

  /** Each sender's highest stored seq. */
  async senderLast(conv: string): Promise<Map<string, number>> {
    return new Map((await this.rows(this.q.senderLast!, [conv])).map((r) => [r.sender as string, Number(r.seq)]));
  }

  async close(): Promise<void> {
    await this.client.shutdown();
  }
}

/** Adds the messages columns a keyspace made by an earlier release lacks (CQL has no ADD IF NOT EXISTS on every server). */
async function addMissingColumns(client: cassandra.Client, keyspace: string): Promise<void> {
  const have = new Set(
    (await client.execute(`SELECT column_name FROM system_schema.columns WHERE keyspace_name = ? AND table_name = 'messages'`, [keyspace], { prepare: true })).rows.map(
      (r) => r.column_name as string,
    ),
  );
  for (const [name, type] of Object.entries(ADDED_MESSAGE_COLUMNS)) {
    if (!have.has(name)) await client.execute(`ALTER TABLE ${keyspace}.messages ADD ${name} ${type}`, [], { prepare: false });
  }
}
