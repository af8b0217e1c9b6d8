// The message store as devices read it (resume backlogs, gap fills, HISTORY), over whichever
// backend stores the messages:
// - removed messages (deleted for everyone, or by moderation) come out as tombstones, from the one
//   record of removals (src/safety/removed-messages.ts), even where a backend still holds the
//   original (the JetStream log keeps it until its max age);
// - disappearing messages whose time has come come out as tombstones from RANGE reads and are
//   left out of HISTORY, from the moment they expire: stores delete them a little later
//   (SQLite/PostgreSQL at the next expiry sweep, Cassandra by TTL; the JetStream log keeps them
//   until its max age);
// - a RANGE read has no holes: a seq the store no longer holds (it disappeared, or was pruned
//   while a device was being brought up to date) comes as a bare tombstone. Devices apply
//   messages in seq order and wait for a missing seq (docs/protocol.md §8.2); without this, a
//   disappeared message in the middle of a backlog would stall them.
// Writes go straight through.

import type { Clock } from "../clock.ts";
import { MessageKind } from "../proto/codes.ts";
import { tombstone, type RemovedMessages } from "../safety/removed-messages.ts";
import type { AppendOptions, AppendResult, MessageStore, NewMessage, StoredMessage } from "../storage/types.ts";

const EMPTY = new Uint8Array(0);

/** What a seq the store no longer holds reads as: nothing of the message is left but its place. */
export function placeholder(conv: string, seq: number): StoredMessage {
  return { conv, seq, id: 0n, from: "", dev: "", cid: "", kind: MessageKind.Removed, body: EMPTY, ts: 0 };
}

/** Whether `m` is such a placeholder: nothing of the message is left. */
export function isPlaceholder(m: StoredMessage): boolean {
  return m.id === 0n && m.from === "" && m.kind === MessageKind.Removed;
}

export class MessageView implements MessageStore {
  constructor(
    private readonly inner: MessageStore,
    private readonly removed: RemovedMessages,
    private readonly clock: Clock,
  ) {}

  get prunes(): boolean {
    return this.inner.prunes;
  }
  append(msg: NewMessage, opts?: AppendOptions): Promise<AppendResult> {
    return this.inner.append(msg, opts);
  }
  lastSeq(conv: string): Promise<number> {
    return this.inner.lastSeq(conv);
  }
  firstRetainedSeq(conv: string): Promise<number> {
    return this.inner.firstRetainedSeq(conv);
  }

  async range(conv: string, afterSeq: number, limit: number): Promise<StoredMessage[]> {
    const rows = await this.removed.redact(conv, await this.inner.range(conv, afterSeq, limit));
    const now = this.clock.now();
    for (let i = 0; i < rows.length; i++) {
      const m = rows[i]!;
      if (m.exp !== undefined && m.exp <= now && m.kind !== MessageKind.Removed) rows[i] = tombstone(m);
    }
    // Contiguous and complete (the common case): nothing to fill.
    if (limit <= 0 || (rows.length === limit && rows[rows.length - 1]!.seq === afterSeq + limit)) return rows;
    // Fill up to what the page covers: the last row, or the conversation's end when the page is short.
    const last = rows.length === limit ? afterSeq + limit : Math.min(afterSeq + limit, await this.inner.lastSeq(conv));
    const out: StoredMessage[] = [];
    let i = 0;
    for (let seq = afterSeq + 1; seq <= last; seq++) {
      while (i < rows.length && rows[i]!.seq < seq) i++;
      out.push(i < rows.length && rows[i]!.seq === seq ? rows[i]! : placeholder(conv, seq));
    }
    return out;
  }

  async history(conv: string, beforeSeq: number, limit: number): Promise<StoredMessage[]> {
    const rows = await this.removed.redact(conv, await this.inner.history(conv, beforeSeq, limit));
    const now = this.clock.now();
    return rows.some((m) => m.exp !== undefined && m.exp <= now) ? rows.filter((m) => m.exp === undefined || m.exp > now) : rows;
  }

  lastSeqBySender(conv: string): Promise<Map<string, number>> {
    return this.inner.lastSeqBySender(conv);
  }
  pruneBefore(tsMs: number): Promise<number> {
    return this.inner.pruneBefore(tsMs);
  }
  pruneExpired(nowMs: number): Promise<number> {
    return this.inner.pruneExpired(nowMs);
  }
  rewrite(message: StoredMessage): Promise<void> {
    return this.inner.rewrite(message);
  }
  flush(): Promise<void> {
    return this.inner.flush();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}
