// Wall-clock time, injectable. Everything that decides by elapsed time (rate limits, tickets,
// push coalescing, sweeps) reads it through a Clock, so tests move time forward instead of
// sleeping through it.

export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** A clock that moves only when told to (tests). */
export class ManualClock implements Clock {
  constructor(private t = Date.now()) {}
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
}
