// Coalesces delivered/read marker updates from all conversations into one store write per
// event-loop turn: a burst of receipts costs one transaction, and a marker that moved several
// times in the turn is written once at its highest value.

import type { CursorUpdate, MetadataStore } from "../storage/types.ts";
import { atTurnEnd } from "../turn-end.ts";

export class CursorWriter {
  private pending = new Map<string, CursorUpdate>();
  private waiters: { resolve: () => void; reject: (e: unknown) => void }[] = [];
  private scheduled = false;

  constructor(private readonly store: MetadataStore) {}

  /** Queues an update; the promise resolves once it is committed. */
  save(u: CursorUpdate): Promise<void> {
    const key = `${u.conv}\u0000${u.user}`;
    const prev = this.pending.get(key);
    this.pending.set(key, prev ? { ...u, delivered: Math.max(prev.delivered, u.delivered), read: Math.max(prev.read, u.read) } : u);
    if (!this.scheduled) {
      this.scheduled = true;
      atTurnEnd(() => void this.flush());
    }
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  async flush(): Promise<void> {
    this.scheduled = false;
    if (this.pending.size === 0) return;
    const batch = [...this.pending.values()];
    const waiters = this.waiters;
    this.pending = new Map();
    this.waiters = [];
    try {
      await this.store.saveCursors(batch);
      for (const w of waiters) w.resolve();
    } catch (e) {
      for (const w of waiters) w.reject(e);
    }
  }
}
