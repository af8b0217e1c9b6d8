// Delete for me, as one user reads their conversations: the messages they hid come out of their
// resume backlogs and HISTORY as tombstones (kind Removed), in place, so their devices' order
// has no hole. The other members are not affected.
//
// Which conversations have hidden messages is read once per user actor, and kept current by the
// HIDDEN notices the user's actors hear; a conversation without any costs a set lookup per read.

import type { ChatSettingsStore } from "../storage/types.ts";
import type { PageRows } from "./page-rows.ts";

export class HiddenFilter {
  private convs: Promise<Set<string>> | null = null;

  constructor(
    private readonly user: string,
    private readonly store: Pick<ChatSettingsStore, "hiddenConversations" | "hiddenSeqs">,
  ) {}

  private load(): Promise<Set<string>> {
    if (!this.convs) {
      const p = this.store.hiddenConversations(this.user).then((l) => new Set(l));
      // A failed read is tried again next time.
      p.catch(() => {
        if (this.convs === p) this.convs = null;
      });
      this.convs = p;
    }
    return this.convs;
  }

  /** The user hid messages of `conv` (on any device, any node). */
  heard(conv: string): void {
    // Not loaded yet: the load reads it from the store, where it was written first.
    void this.convs?.then((s) => s.add(conv), () => {});
  }

  /** `rows` of `conv` (messages or frames), with the messages this user hid replaced by tombstones. */
  async apply<T>(conv: string, rows: T[], shape: PageRows<T>): Promise<T[]> {
    if (rows.length === 0 || !(await this.load()).has(conv)) return rows;
    let lo = Infinity;
    let hi = 0;
    for (const r of rows) {
      lo = Math.min(lo, shape.seq(r));
      hi = Math.max(hi, shape.seq(r));
    }
    const hidden = new Set(await this.store.hiddenSeqs(this.user, conv, lo, hi));
    return hidden.size === 0 ? rows : rows.map((r) => (hidden.has(shape.seq(r)) ? shape.tombstone(r) : r));
  }
}
