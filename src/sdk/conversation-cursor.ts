// Per-conversation ordering on the client: messages are released to the application in seq
// order, exactly once, whatever order pushes and send acks arrive in. The cursor is the highest
// seq released with nothing missing below it; it is what the client sends back in SYNC.

import type { WireMessage } from "../proto/types.ts";

export class ConversationCursor {
  private readonly early = new Map<number, WireMessage>();

  constructor(public seq: number) {}

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
