// Delete for me, as one user reads their conversations: the messages they hid come out of their
// resume backlogs and HISTORY as tombstones (kind Removed), in place, so their devices' order
// has no hole. The other members are not affected.
//
// Which conversations have hidden messages is read once per user actor, and kept current by the
// HIDDEN notices the user's actors hear; a conversation without any costs a set lookup per read.

import { tombstone } from "../safety/removed-messages.ts";
import type { ChatSettingsStore, StoredMessage } from "../storage/types.ts";

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

  /** `rows` of `conv`, with the messages this user hid replaced by tombstones. */
  async apply(conv: string, rows: StoredMessage[]): Promise<StoredMessage[]> {
    if (rows.length === 0 || !(await this.load()).has(conv)) return rows;
    let lo = Infinity;
    let hi = 0;
    for (const m of rows) {
      lo = Math.min(lo, m.seq);
      hi = Math.max(hi, m.seq);
    }
    const hidden = new Set(await this.store.hiddenSeqs(this.user, conv, lo, hi));
    return hidden.size === 0 ? rows : rows.map((m) => (hidden.has(m.seq) ? tombstone(m) : m));
  }
}
