import { expect, test } from "bun:test";
import { BoundedMap } from "../../src/bounded-map.ts";

/** What a plain Map evicting its first key would hold: the reference the BoundedMap must match. */
function reference<K, V>(max: number) {
  const map = new Map<K, V>();
  return {
    map,
    set(k: K, v: V) {
      map.set(k, v);
      while (map.size > max) map.delete(map.keys().next().value!);
    },
    touch(k: K) {
      if (!map.has(k)) return;
      const v = map.get(k)!;
      map.delete(k);
      map.set(k, v);
    },
  };
}

test("keeps the newest max entries, in insertion order, like a Map evicting its first key", () => {
  const b = new BoundedMap<number, string>(3);
  for (let i = 1; i <= 5; i++) b.set(i, `v${i}`);
  expect(b.size).toBe(3);
  expect([1, 2, 3, 4, 5].map((k) => b.get(k))).toEqual([undefined, undefined, "v3", "v4", "v5"]);
  // A key already held keeps its place in line: setting 3 again does not save it from the next eviction.
  b.set(3, "again");
  b.set(6, "v6");
  expect(b.has(3)).toBe(false);
  expect([4, 5, 6].map((k) => b.get(k))).toEqual(["v4", "v5", "v6"]);
});

test("touch moves an entry to the back of the line; delete and clear leave the order of the rest", () => {
  const b = new BoundedMap<string, number>(3);
  b.set("a", 1).set("b", 2).set("c", 3);
  expect(b.touch("a")).toBe(1);
  expect(b.touch("missing")).toBeUndefined();
  b.set("d", 4);
  expect(b.has("b")).toBe(false);
  expect(b.has("a")).toBe(true);
  expect(b.delete("c")).toBe(true);
  b.set("e", 5);
  expect(b.size).toBe(3);
  b.set("f", 6);
  expect(b.has("a")).toBe(false);
  b.clear();
  expect(b.size).toBe(0);
  b.set("x", 1).set("y", 2).set("z", 3).set("w", 4);
  expect(["x", "y", "z", "w"].map((k) => b.has(k))).toEqual([false, true, true, true]);
});

test("a long random run of sets, touches, deletes and clears holds what the plain Map would", () => {
  // Seeded, so a failure repeats.
  let seed = 42;
  const rand = (n: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed % n;
  };
  for (const max of [1, 7, 64]) {
    const b = new BoundedMap<number, number>(max);
    const r = reference<number, number>(max);
    for (let i = 0; i < 20_000; i++) {
      const op = rand(100);
      const k = rand(max * 3);
      if (op < 60) {
        b.set(k, i);
        r.set(k, i);
      } else if (op < 80) {
        b.touch(k);
        r.touch(k);
      } else if (op < 99) {
        expect(b.delete(k)).toBe(r.map.delete(k));
      } else {
        b.clear();
        r.map.clear();
      }
      expect(b.size).toBe(r.map.size);
    }
    for (const [k, v] of r.map) expect(b.get(k)).toBe(v);
    // The same order: new keys push out the same entries, one by one.
    for (let j = 0; j < max; j++) {
      b.set(-1 - j, 0);
      r.set(-1 - j, 0);
      expect(b.size).toBe(r.map.size);
      for (const k of r.map.keys()) expect(b.has(k)).toBe(true);
    }
  }
});

test("max must be at least one", () => {
  expect(() => new BoundedMap(0)).toThrow(RangeError);
});
