// Names of everything the log-backed store keeps in NATS, derived from `jetstream.stream`, and
// which shard a conversation belongs to. Only the storage layer uses these subjects: actors see
// MessageStore.append and nothing of shards, owners or envelopes.
//
//   <stream>-<i>             one JetStream stream per shard i (0 <= i < shards): its envelopes
//   msgr.log.<stream>.<i>    that stream's one subject
//   <stream>_OWNERS          KV bucket: key shard-<i> holds the shard's lease (owner and epoch),
//                            key layout holds the shard count the log was created with
//   msgr.logowner.<stream>.<instance>   where an owner takes appends and tail queries from other edges

/** FNV-1a over UTF-16 code units: stable across processes, versions and platforms (the shard of a conversation must never change). */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export class LogLayout {
  constructor(
    /** The `jetstream.stream` setting: the prefix of every name here. */
    readonly base: string,
    readonly shards: number,
  ) {}

  shardOf(conv: string): number {
    return fnv1a(conv) % this.shards;
  }

  stream(shard: number): string {
    return `${this.base}-${shard}`;
  }

  subject(shard: number): string {
    return `msgr.log.${this.base}.${shard}`;
  }

  get leaseBucket(): string {
    return `${this.base}_OWNERS`;
  }

  leaseKey(shard: number): string {
    return `shard-${shard}`;
  }

  ownerSubject(instance: string): string {
    return `msgr.logowner.${this.base}.${instance}`;
  }

  get all(): number[] {
    return Array.from({ length: this.shards }, (_, i) => i);
  }
}
