// Token buckets: `perSecond` sustained, `burst` at once. Time comes from the caller (a Clock
// reading), so the buckets never look at the wall clock themselves.
//
// A bucket that has filled up again is what a new one would be, so its holder may drop it
// (`full`): an idle connection then carries none (Node.sweep sheds them).

import type { RateClass, RateLimit } from "../config/config.ts";

export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    now: number,
  ) {
    this.tokens = burst;
    this.last = now;
  }

  /** Takes one token; returns 0 when allowed, else the milliseconds until one is available. */
  take(now: number): number {
    if (now > this.last) {
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.perSecond) / 1000);
      this.last = now;
    }
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil(((1 - this.tokens) * 1000) / this.perSecond));
  }

  /** Whether the bucket is back to its burst at `now`: forgetting it changes nothing. */
  full(now: number): boolean {
    return this.tokens + ((now - this.last) * this.perSecond) / 1000 >= this.burst;
  }
}

/**
 * One user's buckets, one per rate class, each made on first use. A plain object rather than a
 * Map: a user uses a few classes, and a Map's table costs ten times their buckets on every
 * connected user.
 */
export class RateLimits {
  private readonly buckets: Partial<Record<RateClass, TokenBucket>> = {};

  constructor(private readonly rates: Record<RateClass, RateLimit>) {}

  /** 0 when the command may run now, else the milliseconds to wait. */
  take(cls: RateClass, now: number): number {
    let b = this.buckets[cls];
    if (!b) {
      const r = this.rates[cls];
      this.buckets[cls] = b = new TokenBucket(r.perSecond, r.burst, now);
    }
    return b.take(now);
  }

  /** Forgets the buckets that are full at `now`; true when none is left (the holder may drop this). */
  shed(now: number): boolean {
    let left = false;
    for (const cls in this.buckets) {
      const b = this.buckets[cls as RateClass];
      if (!b) continue;
      if (b.full(now)) this.buckets[cls as RateClass] = undefined;
      else left = true;
    }
    return !left;
  }
}
