// The CQL schema of the history store. Only CQL that both Apache Cassandra 5 and ScyllaDB accept.
//
// messages: one partition per conversation and bucket of BUCKET_SEQS consecutive seqs, newest
//   first. Seed 001 buckets by time to bound partitions; a block of seqs bounds them by rows
//   whatever the traffic, and the bucket of any seq is computed, not looked up. Seqs grow with
//   time, so the buckets are time-ordered too and TimeWindowCompactionStrategy applies: rows are
//   written once and expire by TTL (storage.retentionSeconds, or a disappearing message's own
//   expiry) whole SSTables at a time, without tombstone-heavy deletes. The one change a row
//   sees is a rewrite (an edit, a deletion for everyone): its content cells are overwritten with a
//   later write timestamp than the row's insert (which is written at the message's own time), so
//   the rewrite wins whichever of the two lands first.
// conv_buckets: the buckets a conversation has, to find its newest and oldest without scanning.
// client_ids: (conv, sender, cid) -> seq, the store's own dedupe key for resends that arrive
//   after the log's duplicate window.
// sender_last: each sender's highest seq, for read receipts. Its rows change: written USING
//   TIMESTAMP <seq>, so last-write-wins keeps the highest seq whatever order concurrent or
//   replayed writes land in.
// conv_last: each conversation's highest stored seq, written the same way and never expiring:
//   a shard's new owner continues a conversation from it (the log holds only what is not
//   flushed yet), so seqs are never reused even after the messages expired.

/** Rows per messages partition (at 1 KiB a message, about 4 MiB: well under the 100 MiB guidance). */
export const BUCKET_SEQS = 4096;

/** The bucket column is a CQL int; "any seq" bounds (Number.MAX_SAFE_INTEGER) map to the last bucket. */
const MAX_BUCKET = 2 ** 31 - 1;

export const bucketOf = (seq: number): number => Math.min(Math.floor(seq / BUCKET_SEQS), MAX_BUCKET);

export interface SchemaOptions {
  keyspace: string;
  localDataCenter: string;
  replicationFactor: number;
}

/** Columns added to messages after its first release: ALTER TABLE adds those a keyspace lacks. */
export const ADDED_MESSAGE_COLUMNS: Record<string, string> = { ref: "bigint", edited: "bigint", exp: "bigint" };

export function schemaStatements({ keyspace: ks, localDataCenter, replicationFactor }: SchemaOptions): string[] {
  return [
    `CREATE KEYSPACE IF NOT EXISTS ${ks} WITH replication = {'class': 'NetworkTopologyStrategy', '${localDataCenter}': ${replicationFactor}} AND durable_writes = true`,
    `CREATE TABLE IF NOT EXISTS ${ks}.messages (
       conv text, bucket int, seq bigint,
       id bigint, sender text, device text, cid text, kind int, body blob, ts bigint, media text,
       log_seq bigint, ref bigint, edited bigint, exp bigint,
       PRIMARY KEY ((conv, bucket), seq)
     ) WITH CLUSTERING ORDER BY (seq DESC)
       AND compaction = {'class': 'TimeWindowCompactionStrategy', 'compaction_window_unit': 'DAYS', 'compaction_window_size': 1}`,
    `CREATE TABLE IF NOT EXISTS ${ks}.conv_buckets (
       conv text, bucket int,
       PRIMARY KEY (conv, bucket)
     ) WITH CLUSTERING ORDER BY (bucket DESC)`,
    `CREATE TABLE IF NOT EXISTS ${ks}.client_ids (
       conv text, sender text, cid text, seq bigint,
       PRIMARY KEY ((conv, sender), cid)
     )`,
    `CREATE TABLE IF NOT EXISTS ${ks}.sender_last (
       conv text, sender text, seq bigint,
       PRIMARY KEY (conv, sender)
     )`,
    `CREATE TABLE IF NOT EXISTS ${ks}.conv_last (
       conv text PRIMARY KEY, seq bigint
     )`,
  ];
}
