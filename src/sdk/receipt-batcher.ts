// When the client sends its delivered receipts. A receipt is cumulative ("everything up to seq"),
// so only the latest seq of each conversation is kept, and one batch carries all of them.
//
// The first batch after a quiet spell leaves `delayMs` after the message that opened it: the
// sender of a lone message sees its second tick that soon. While messages keep arriving, batches
// leave at most once per `intervalMs`: under a steady stream each receipt costs the server a
// command, a marker write and a relay, and a phone a radio wake-up, however few messages it
// covers.

import { systemClock, type Clock } from "../clock.ts";

export interface ReceiptTiming {
  /** From the first message of a quiet spell to its batch. */
  delayMs: number;
  /** The least time between two batches. */
  intervalMs: number;
}

export class ReceiptBatcher {
  /** conversation -> the highest seq to acknowledge. */
  private readonly due = new Map<string, number>();
  private scheduled = false;
  private lastSentAt = Number.NEGATIVE_INFINITY;

  /**
   * `send` transmits one receipt and returns whether it could (false: no connection; the batch is
   * then kept for flush() on the next one).
   */
  constructor(
    private readonly timing: ReceiptTiming,
    private readonly send: (conv: string, seq: number) => boolean,
    private readonly clock: Clock = systemClock,
  ) {}

  /** Messages of `conv` up to `seq` are held: a receipt for them is due. */
  add(conv: string, seq: number): void {
    this.due.set(conv, seq);
    if (this.scheduled) return;
    this.scheduled = true;
    const wait = Math.max(this.timing.delayMs, this.lastSentAt + this.timing.intervalMs - this.clock.now());
    this.clock.after(wait, () => {
      this.scheduled = false;
      this.flush();
    });
  }

  /** Sends the receipts due now (a new connection sends those the last one could not). */
  flush(): void {
    for (const [conv, seq] of this.due) {
      if (!this.send(conv, seq)) return;
      this.due.delete(conv);
      this.lastSentAt = this.clock.now();
    }
  }
}
