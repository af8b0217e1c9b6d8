// The time source of shard leases: renewals, and how long a silent owner is waited for before its
// shard is taken over. Tests inject a manual clock so that lease expiry is a step they take, not
// a wait. Nothing here decides correctness: a stale owner is fenced by the stream, whatever the
// clocks say (docs/durability.md §2).

export interface Clock {
  /** Milliseconds, monotonic. */
  now(): number;
  /** Calls `fn` once `ms` have passed; the function it returns cancels the call. */
  after(ms: number, fn: () => void): () => void;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  after(ms, fn) {
    const timer = setTimeout(fn, ms);
    return () => clearTimeout(timer);
  },
};
