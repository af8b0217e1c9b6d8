// Time, injectable. Everything that decides by elapsed time (rate limits, tickets, push
// coalescing, sweeps, shard leases) reads it and sets its timers through a Clock, so tests move
// time forward instead of sleeping through it.

export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  /** Calls `fn` once `ms` have passed; the function it returns cancels the call. */
  after(ms: number, fn: () => void): () => void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  after(ms, fn) {
    const timer = setTimeout(fn, ms);
    return () => clearTimeout(timer);
  },
};

interface Timer {
  at: number;
  fn: () => void;
}

/** A clock that moves only when told to (tests): timers fire on the step that passes them, never on a wait. */
export class ManualClock implements Clock {
  private timers: Timer[] = [];
  private waiting: (() => void)[] = [];

  constructor(private t = Date.now()) {}

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
