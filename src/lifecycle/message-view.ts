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
// These rules hold for both shapes a page is read in (page-rows.ts): messages, and the frames a
// backlog streams. Writes go straight through.

import type { Clock } from "../clock.ts";
import type { RemovedMessages } from "../safety/removed-messages.ts";
import type { AppendOptions, AppendResult, MessageStore, NewMessage, StoredFrame, StoredMessage } from "../storage/types.ts";
import { FRAME_ROWS, frameRow, MESSAGE_ROWS, type PageRows } from "./page-rows.ts";

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
    return this.page(conv, afterSeq, limit, await this.inner.range(conv, afterSeq, limit), MESSAGE_ROWS);
  }

  /** range() as frames: what a backlog streams. */
  async frames(conv: string, afterSeq: number, limit: number): Promise<StoredFrame[]> {
    const rows = this.inner.frames ? await this.inner.frames(conv, afterSeq, limit) : (await this.inner.range(conv, afterSeq, limit)).map(frameRow);
    return this.page(conv, afterSeq, limit, rows, FRAME_ROWS);
  }

  /** A page of range(), of either shape, as devices read it: tombstones in place, no holes. */
  private async page<T>(conv: string, afterSeq: number, limit: number, read: T[], shape: PageRows<T>): Promise<T[]> {
    const rows = await this.redact(conv, read, shape);
    const now = this.clock.now();
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i]!;
      const exp = shape.exp(r);
      if (exp !== undefined && exp <= now && !shape.gone(r)) rows[i] = shape.tombstone(r);
    }
    // Contiguous and complete (the common case): nothing to fill.
    if (limit <= 0 || (rows.length === limit && shape.seq(rows[rows.length - 1]!) === afterSeq + limit)) return rows;
    // Fill up to what the page covers: the last row, or the conversation's end when the page is short.
    const last = rows.length === limit ? afterSeq + limit : Math.min(afterSeq + limit, await this.inner.lastSeq(conv));
    const out: T[] = [];
    let i = 0;
    for (let seq = afterSeq + 1; seq <= last; seq++) {
      while (i < rows.length && shape.seq(rows[i]!) < seq) i++;
      out.push(i < rows.length && shape.seq(rows[i]!) === seq ? rows[i]! : shape.placeholder(conv, seq));
    }
    return out;
  }

  /** `rows` of `conv` with removed messages replaced by tombstones. */
  private async redact<T>(conv: string, rows: T[], shape: PageRows<T>): Promise<T[]> {
    if (rows.length === 0) return rows;
    const seqs = await this.removed.seqs(conv);
    return seqs === null || seqs.size === 0 ? rows : rows.map((r) => (seqs.has(shape.seq(r)) ? shape.tombstone(r) : r));
  }

  async history(conv: string, beforeSeq: number, limit: number): Promise<StoredMessage[]> {
    const rows = await this.redact(conv, await this.inner.history(conv, beforeSeq, limit), MESSAGE_ROWS);
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
