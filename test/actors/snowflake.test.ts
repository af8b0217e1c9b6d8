import { describe, expect, test } from "bun:test";
import { SnowflakeGenerator, SNOWFLAKE_EPOCH_MS, snowflakeParts } from "../../src/actors/snowflake.ts";

describe("snowflake ids", () => {
  test("layout: time, node and counter, read back from the id", () => {
    const at = Date.UTC(2026, 0, 1);
    const id = new SnowflakeGenerator(3, () => at).next();
    expect(snowflakeParts(id)).toEqual({ ms: at, node: 3, counter: 0 });
    expect(id).toBe(132271570944012288n);
    expect(id < 1n << 63n).toBe(true);
  });

  test("strictly increasing within a millisecond, across a counter wrap and a clock step back", () => {
    let now = SNOWFLAKE_EPOCH_MS + 1_000;
    const g = new SnowflakeGenerator(7, () => now);
    let prev = 0n;
    for (let i = 0; i < 10_000; i++) {
      if (i === 6_000) now -= 500; // the wall clock steps back
      const id = g.next();
      expect(id > prev).toBe(true);
      expect(snowflakeParts(id).node).toBe(7);
      prev = id;
    }
  });

  test("a clock before the epoch still gives increasing ids that name their node", () => {
    const g = new SnowflakeGenerator(5, () => SNOWFLAKE_EPOCH_MS - 1_000);
    const [a, b] = [g.next(), g.next()];
    expect(b > a).toBe(true);
    expect(snowflakeParts(a).node).toBe(5);
    expect(snowflakeParts(b).node).toBe(5);
  });

  test("a node id outside 0..1023 is refused", () => {
    expect(() => new SnowflakeGenerator(1024)).toThrow(RangeError);
    expect(() => new SnowflakeGenerator(-1)).toThrow(RangeError);
  });
});
