import { expect, test } from "bun:test";
import { BoundedMap } from "../../src/bounded-map.ts";
import { BoundedNumberMap } from "../../src/bounded-number-map.ts";

/** Seeded, so a failure repeats. */
function random(seed: number) {
  return (n: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed % n;
  };
}

/** Every key the reference holds is held with its value, and nothing else is (size). */
function expectSame(b: BoundedNumberMap, r: BoundedMap<number, number>, keys: Iterable<number>): void {
  expect(b.size).toBe(r.size);
  for (const k of keys) {
    expect(b.has(k)).toBe(r.has(k));
    expect(b.get(k)).toBe(r.get(k));
  }
}

test("keeps the newest max entries; a key set again keeps its place in line", () => {
  const b = new BoundedNumberMap(3);
  for (let i = 1; i <= 5; i++) b.set(i, i * 10);
  expect(b.size).toBe(3);
  expect([1, 2, 3, 4, 5].map((k) => b.get(k))).toEqual([undefined, undefined, 30, 40, 50]);
  b.set(3, 33);
  expect(b.get(3)).toBe(33);
  b.set(6, 60);
  expect(b.has(3)).toBe(false);
  expect([4, 5, 6].map((k) => b.get(k))).toEqual([40, 50, 60]);
  // Zero and the largest safe integer are keys like any other.
  b.set(0, 1).set(Number.MAX_SAFE_INTEGER, 2);
  expect([b.get(0), b.get(Number.MAX_SAFE_INTEGER), b.has(5)]).toEqual([1, 2, false]);
});

test("a long random run holds what a BoundedMap would, with keys spread and keys crowded into a few slots", () => {
  // Spread like hashes, then crowded: keys that share their low 32 bits share a home slot, so
  // with three home slots the probe runs are long and every eviction shifts entries back across
  // them. Each maps distinct n to distinct keys, so every run fills its map and evicts.
  const spreads: ((n: number) => number)[] = [(n) => n * 2_654_435_761 + 12_345, (n) => Math.floor(n / 3) * 2 ** 32 + (n % 3)];
  for (const keyOf of spreads) {
    for (const max of [1, 7, 64, 1000]) {
      const rand = random(max);
      const b = new BoundedNumberMap(max);
      const r = new BoundedMap<number, number>(max);
      const universe = max * 3;
      for (let i = 0; i < 20_000; i++) {
        const k = keyOf(rand(universe));
        b.set(k, i);
        r.set(k, i);
        if (i % 97 === 0) expectSame(b, r, Array.from({ length: universe }, (_, n) => keyOf(n)));
      }
      expectSame(b, r, Array.from({ length: universe }, (_, n) => keyOf(n)));
    }
  }
});

test("only integers in [0, 2^53) are keys, and max is a whole number of at least one", () => {
  const b = new BoundedNumberMap(4);
  for (const bad of [-1, 0.5, Number.NaN, Infinity, 2 ** 53]) expect(() => b.set(bad, 1)).toThrow(RangeError);
  expect(b.size).toBe(0);
  for (const max of [0, 1.5, Number.NaN]) expect(() => new BoundedNumberMap(max)).toThrow(RangeError);
});
