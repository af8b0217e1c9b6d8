// 64-bit time-sortable message ids (Snowflake layout): 41 bits of milliseconds since
// 2025-01-01T00:00:00Z, 10 bits of node id, 12 bits of per-millisecond counter.
// Ids from one generator strictly increase even if the wall clock steps back: the generator
// keeps its own high-water mark of time and borrows the next millisecond when the counter wraps.

export const SNOWFLAKE_EPOCH_MS = 1735689600000;
const NODE_BITS = 10n;
const COUNTER_BITS = 12n;
const MAX_COUNTER = (1 << Number(COUNTER_BITS)) - 1;

export class SnowflakeGenerator {
  private lastMs = 0;
  private counter = 0;
  private readonly node: bigint;
  /** The id's bits above the counter for lastMs: one BigInt per millisecond, not three per id. */
  private high: bigint;

  constructor(nodeId: number, private readonly now: () => number = Date.now) {
    if (!Number.isInteger(nodeId) || nodeId < 0 || nodeId > 1023) throw new RangeError("node id must be 0..1023");
    this.node = BigInt(nodeId);
    this.high = this.node << COUNTER_BITS;
  }

  next(): bigint {
    const ms = this.now() - SNOWFLAKE_EPOCH_MS;
    if (ms > this.lastMs) this.startMs(ms);
    else if (this.counter < MAX_COUNTER) this.counter++;
    else this.startMs(this.lastMs + 1);
    return this.high | BigInt(this.counter);
  }

  private startMs(ms: number): void {
    this.lastMs = ms;
    this.counter = 0;
    this.high = (BigInt(ms) << (NODE_BITS + COUNTER_BITS)) | (this.node << COUNTER_BITS);
  }
}

export function snowflakeParts(id: bigint): { ms: number; node: number; counter: number } {
  return {
    ms: Number(id >> (NODE_BITS + COUNTER_BITS)) + SNOWFLAKE_EPOCH_MS,
    node: Number((id >> COUNTER_BITS) & 1023n),
    counter: Number(id & BigInt(MAX_COUNTER)),
  };
}
