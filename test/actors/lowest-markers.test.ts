import { describe, expect, test } from "bun:test";
import { LowestMarkers } from "../../src/actors/lowest-markers.ts";

/** The answer by brute force: every aggregate a member would compute from it must agree. */
function expected(markers: Map<string, number>, empty: number): { v1: number; v2: number } {
  const sorted = [...markers.values()].sort((a, b) => a - b);
  return { v1: sorted[0] ?? empty, v2: sorted[1] ?? empty };
}

describe("LowestMarkers", () => {
  test("empty, one and two members: the missing values are the stand-in", () => {
    const l = new LowestMarkers();
    expect(l.lowestTwo(9)).toEqual([9, "", 9]);
    l.set("a", 3);
    expect(l.lowestTwo(9)).toEqual([3, "a", 9]);
    l.set("b", 1);
    expect(l.lowestTwo(9)).toEqual([1, "b", 3]);
    l.delete("b");
    expect(l.lowestTwo(9)).toEqual([3, "a", 9]);
  });

  test("agrees with a brute force over random rises, joins and leaves", () => {
    // A fixed-seed generator: the same sequence on every run.
    let seed = 42;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const l = new LowestMarkers();
    const markers = new Map<string, number>();
    for (let step = 0; step < 20_000; step++) {
      const user = `u${Math.floor(random() * 300)}`;
      const r = random();
      if (r < 0.05) {
        l.delete(user);
        markers.delete(user);
      } else if (r < 0.1) {
        // A store's list replacing a member's markers may lower one too.
        const v = Math.floor(random() * 100);
        l.set(user, v);
        markers.set(user, v);
      } else {
        const v = (markers.get(user) ?? 0) + Math.floor(random() * 3);
        l.set(user, v);
        markers.set(user, v);
      }
      const [v1, u1, v2] = l.lowestTwo(-1);
      const want = expected(markers, -1);
      expect([v1, v2]).toEqual([want.v1, want.v2]);
      if (markers.size > 0) expect(markers.get(u1)).toBe(v1);
    }
  });

  test("clear forgets everyone", () => {
    const l = new LowestMarkers();
    for (let i = 0; i < 10; i++) l.set(`u${i}`, i);
    l.clear();
    expect(l.lowestTwo(5)).toEqual([5, "", 5]);
    l.set("u3", 7);
    expect(l.lowestTwo(5)).toEqual([7, "u3", 5]);
  });
});
