// A clock that moves only when a test says so: lease TTLs and renewals (src/storage/jetstream/clock.ts)
// expire on a step the test takes, never on a wait.

import type { Clock } from "../../src/storage/jetstream/clock.ts";

interface Timer {
  at: number;
  fn: () => void;
}

export class ManualClock implements Clock {
  private t = 0;
  private timers: Timer[] = [];
  private waiting: (() => void)[] = [];

  now(): number {
    return this.t;
  }

  after(ms: number, fn: () => void): () => void {
    const timer = { at: this.t + ms, fn };
    this.timers.push(timer);
    for (const w of this.waiting.splice(0)) w();
    return () => {
      this.timers = this.timers.filter((x) => x !== timer);
    };
  }

  /** Moves time on and runs every timer that came due. */
  advance(ms: number): void {
    this.t += ms;
    const due = this.timers.filter((x) => x.at <= this.t);
    this.timers = this.timers.filter((x) => x.at > this.t);
    for (const x of due) x.fn();
  }

  /** Resolves once some timer is pending (at once if one is): something is waiting on this clock. */
  pending(): Promise<void> {
    if (this.timers.length > 0) return Promise.resolve();
    return new Promise((r) => this.waiting.push(r));
  }
}
