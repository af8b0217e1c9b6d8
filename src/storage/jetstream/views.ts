// A conversation as its shard's owner sees it: the last stored seq, and a page of messages when
// the owner still holds them in memory. Reads of what was just sent (a device filling a gap, a
// resume right after traffic) are answered this way without a history-store or log read.

import type { StoredMessage } from "../types.ts";
import { applyRewrite, approxBytes } from "./envelope.ts";

/** `limit` messages after seq `from` (ascending), or before seq `from` (desc: the newest first are wanted). limit 0: the last seq alone. */
export interface ViewQuery {
  conv: string;
  from: number;
  limit: number;
  desc: boolean;
}

export interface View {
  /** The conversation's last stored seq. */
  last: number;
  /** The page, ascending, clipped to `last`; null when the owner does not hold all of it in memory. */
  messages: StoredMessage[] | null;
}

/** The seqs a query asks for, given the last stored seq: [low, high], empty when high < low. */
export function pageBounds(q: ViewQuery, last: number): [number, number] {
  if (q.desc) {
    const high = Math.min(q.from - 1, last);
    return [Math.max(1, high - q.limit + 1), high];
  }
  return [q.from + 1, Math.min(q.from + q.limit, last)];
}

/**
 * The most recently stored messages of every conversation of a shard, in memory, oldest dropped
 * first beyond a byte budget: per conversation a contiguous run of seqs ending at its last one.
 */
export class RecentMessages {
  private readonly byConv = new Map<string, { gen: number; head: number; list: StoredMessage[] }>();
  // Every message held, oldest first: its conversation, run and size (parallel arrays: one entry per message).
  private convs: string[] = [];
  private gens: number[] = [];
  private sizes: number[] = [];
  private head = 0;
  private gen = 0;
  private bytes = 0;

  constructor(private readonly capacityBytes: number) {}

  /** Adds a stored message; messages of one conversation come in seq order. One already held is ignored. */
  add(m: StoredMessage): void {
    let r = this.byConv.get(m.conv);
    const last = r && r.head < r.list.length ? r.list[r.list.length - 1]!.seq : undefined;
    if (last !== undefined && m.seq <= last) return;
    // A run holds contiguous seqs; after a gap (not expected) a new run starts.
    if (!r || (last !== undefined && m.seq !== last + 1)) this.byConv.set(m.conv, (r = { gen: ++this.gen, head: 0, list: [] }));
    r.list.push(m);
    const size = approxBytes(m);
    this.convs.push(m.conv);
    this.gens.push(r.gen);
    this.sizes.push(size);
    this.bytes += size;
    while (this.bytes > this.capacityBytes) this.dropOldest();
  }

  private dropOldest(): void {
    const i = this.head++;
    const conv = this.convs[i]!;
    this.bytes -= this.sizes[i]!;
    const r = this.byConv.get(conv);
    if (r && r.gen === this.gens[i]) {
      r.head++;
      if (r.head === r.list.length) this.byConv.delete(conv);
      else if (r.head > 1024 && r.head * 2 > r.list.length) {
        r.list = r.list.slice(r.head);
        r.head = 0;
      }
    }
    if (this.head > 4096 && this.head * 2 > this.convs.length) {
      this.convs = this.convs.slice(this.head);
      this.gens = this.gens.slice(this.head);
      this.sizes = this.sizes.slice(this.head);
      this.head = 0;
    }
  }

  /** Replaces what a held message says with what a rewrite set (its size is still counted as it was). */
  rewrite(m: StoredMessage): void {
    const r = this.byConv.get(m.conv);
    if (!r || r.head === r.list.length) return;
    const i = r.head + (m.seq - r.list[r.head]!.seq);
    if (i >= r.head && i < r.list.length) r.list[i] = applyRewrite(r.list[i]!, m);
  }

  /** Seqs low..high of a conversation, if every one of them is held. */
  page(conv: string, low: number, high: number): StoredMessage[] | null {
    if (high < low) return [];
    const r = this.byConv.get(conv);
    if (!r || r.head === r.list.length) return null;
    const first = r.list[r.head]!.seq;
    if (low < first || high > r.list[r.list.length - 1]!.seq) return null;
    return r.list.slice(r.head + (low - first), r.head + (high - first) + 1);
  }
}
