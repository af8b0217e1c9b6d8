// When the client sends its delivered receipts. A receipt is cumulative ("everything up to seq"),
// so only the latest seq of each conversation is kept.
//
// Per conversation: the first receipt after a quiet spell leaves `delayMs` after the message that
// opened it, so the sender of a lone message sees its second tick that soon; while messages keep
// arriving, that conversation's receipts leave at most once per `intervalMs`: under a steady
// stream each receipt costs the server a command, a marker write and a relay, and a phone a radio
// wake-up, however few messages it covers. A busy group does not hold back the receipt of a lone
// message in another conversation. Receipts that come due together leave together.

import { systemClock, type Clock } from "../clock.ts";

export interface ReceiptTiming {
  /** From the first message of a quiet spell to its receipt. */
  delayMs: number;
  /** The least time between two receipts of one conversation. */
  intervalMs: number;
}

interface Due {
  seq: number;
  /** When it may leave. */
  at: number;
}

export class ReceiptBatcher {
  /** conversation -> the highest seq to acknowledge, and when. */
  private readonly due = new Map<string, Due>();
  /** conversation -> when its last receipt left, while that still holds back the next one. */
  private readonly lastSent = new Map<string, number>();
  private timer: { at: number; cancel: () => void } | null = null;

  /**
   * `send` transmits one receipt and returns whether it could (false: no connection; the receipt
   * is then kept for flush() on the next one).
   */
  constructor(
    private readonly timing: ReceiptTiming,
    private readonly send: (conv: string, seq: number) => boolean,
    private readonly clock: Clock = systemClock,
  ) {}

  /** Messages of `conv` up to `seq` are held: a receipt for them is due. */
  add(conv: string, seq: number): void {
    const d = this.due.get(conv);
    if (d) {
      d.seq = seq;
      return;
    }
    const now = this.clock.now();
    const at = Math.max(now + this.timing.delayMs, (this.lastSent.get(conv) ?? -Infinity) + this.timing.intervalMs);
    this.due.set(conv, { seq, at });
    this.wakeAt(at);
  }

  /** Sends every receipt due, whatever its time (a new connection sends those the last one could not). */
  flush(): void {
    this.sendDue(Infinity);
  }

  private sendDue(until: number): void {
    const now = this.clock.now();
    let next = Infinity;
    for (const [conv, d] of this.due) {
      if (d.at > until) {
        next = Math.min(next, d.at);
        continue;
      }
      if (!this.send(conv, d.seq)) return;
      this.due.delete(conv);
      this.lastSent.set(conv, now);
    }
    // A conversation quiet for an interval is quiet: its next receipt is not held back.
    for (const [conv, at] of this.lastSent) if (at + this.timing.intervalMs <= now) this.lastSent.delete(conv);
    if (next !== Infinity) this.wakeAt(next);
  }

  private wakeAt(at: number): void {
    if (this.timer && this.timer.at <= at) return;
    this.timer?.cancel();
    const cancel = this.clock.after(Math.max(0, at - this.clock.now()), () => {
      this.timer = null;
      this.sendDue(this.clock.now());
    });
    this.timer = { at, cancel };
  }
}
