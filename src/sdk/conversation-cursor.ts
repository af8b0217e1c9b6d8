// Per-conversation ordering on the client: messages are released to the application in seq
// order, exactly once, whatever order pushes and send acks arrive in. The cursor is the highest
// seq released with nothing missing below it; it is what the client sends back in SYNC.

import type { WireMessage } from "../proto/types.ts";

export class ConversationCursor {
  private readonly early = new Map<number, WireMessage>();

  constructor(public seq: number) {}

  /**
   * Accepts `m` when it is the next message and none is held back: true, and it is released
   * alone. Otherwise nothing changes; accept() takes it.
   */
  next(m: WireMessage): boolean {
    if (m.seq !== this.seq + 1 || this.early.size > 0) return false;
    this.seq = m.seq;
    return true;
  }

  /** Accepts a message; returns the messages now releasable, in order (possibly none). */
  accept(m: WireMessage): WireMessage[] {
    if (m.seq <= this.seq || this.early.has(m.seq)) return [];
    if (m.seq !== this.seq + 1) {
      this.early.set(m.seq, m);
      return [];
    }
    const out = [m];
    this.seq = m.seq;
    for (let next = this.early.get(this.seq + 1); next; next = this.early.get(this.seq + 1)) {
      this.early.delete(next.seq);
      out.push(next);
      this.seq = next.seq;
    }
    return out;
  }

  /** Messages held back waiting for a missing seq. */
  get waiting(): number {
    return this.early.size;
  }
}
