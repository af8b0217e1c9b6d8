// What it costs to keep "the most recent N" in a Map once it is full: each insert evicts the
// oldest entry. A plain Map evicting through a fresh iterator (`map.delete(map.keys().next().value)`)
// against src/bounded-map.ts and src/bounded-number-map.ts (typed arrays; the message store's
// duplicate window), at the sizes msgr's windows and caches use. Per size, 200,000 inserts of new
// keys into a full map, each after a lookup of the same key (the duplicate check's pattern), in
// rounds of 20,000; µs per lookup and insert, medians of the rounds (the plain Map's cost climbs
// within a run as holes pile up at the front of its table, then drops when the table is rebuilt:
// the range shows it). Keys are spread over 53 bits like the store's client-id hashes.
// Run: bun bench/bounded-map.bench.ts

import { heapStats } from "bun:jsc";
import { BoundedMap } from "../src/bounded-map.ts";
import { BoundedNumberMap } from "../src/bounded-number-map.ts";

const SIZES = [2_048, 10_000, 100_000];
const ROUNDS = 10;
const PER_ROUND = 20_000;

interface Window {
  has(key: number): boolean;
  set(key: number, value: number): void;
}

function plainMap(max: number): Window {
  const map = new Map<number, number>();
  return {
    has: (key) => map.has(key),
    set(key, value) {
      map.set(key, value);
      if (map.size > max) map.delete(map.keys().next().value!);
    },
  };
}

/** The n-th key: distinct, spread over [0, 2^53) (an odd multiplier modulo 2^53). */
const keyOf = (n: number) => Number((BigInt(n) * 0x9e3779b97f4a7cn + 1n) & 0x1f_ffff_ffff_ffffn);

function measure(w: Window, max: number): number[] {
  const keys = Array.from({ length: max + ROUNDS * PER_ROUND }, (_, n) => keyOf(n));
  let next = 0;
  for (let i = 0; i < max; i++) w.set(keys[next++]!, i);
  const perRound: number[] = [];
  let held = 0;
  for (let r = 0; r < ROUNDS; r++) {
    const start = performance.now();
    for (let i = 0; i < PER_ROUND; i++) {
      const k = keys[next++]!;
      if (w.has(k)) held++;
      w.set(k, i);
    }
    perRound.push(((performance.now() - start) * 1000) / PER_ROUND);
  }
  if (held !== 0) throw new Error(`${held} new keys were found held`);
  return perRound;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const show = (xs: number[]) => `${median(xs).toFixed(2)} µs (${Math.min(...xs).toFixed(2)} to ${Math.max(...xs).toFixed(2)})`;
console.log(`µs per lookup and insert into a full map, median of ${ROUNDS} rounds of ${PER_ROUND.toLocaleString("en")} (range):`);
for (const max of SIZES) {
  const plain = measure(plainMap(max), max);
  const bounded = measure(new BoundedMap<number, number>(max), max);
  const typed = measure(new BoundedNumberMap(max), max);
  console.log(
    `${max.toLocaleString("en").padStart(8)} entries: Map evicting its first key ${show(plain)}; BoundedMap ${show(bounded)}; BoundedNumberMap ${show(typed)}`,
  );
}

// What a full window costs the collector: a Map's entries are traced by every full collection,
// typed arrays are not.
const gcMs = (): number => {
  const start = performance.now();
  for (let i = 0; i < 5; i++) Bun.gc(true);
  return (performance.now() - start) / 5;
};
const WINDOW = 100_000;
Bun.gc(true);
const empty = gcMs();
for (const [name, make] of [
  ["BoundedMap", () => new BoundedMap<number, number>(WINDOW)],
  ["BoundedNumberMap", () => new BoundedNumberMap(WINDOW)],
] as const) {
  Bun.gc(true);
  const before = heapStats();
  const held = make();
  for (let i = 0; i < WINDOW * 2; i++) held.set(keyOf(i), i + 0.5);
  const ms = gcMs();
  const after = heapStats();
  // heapSize counts typed arrays' storage too (it is also reported as extraMemorySize).
  const mb = (after.heapSize - before.heapSize) / 1e6;
  console.log(`${name} holding ${held.size.toLocaleString("en")}: ${mb.toFixed(1)} MB, a full collection ${ms.toFixed(2)} ms (${empty.toFixed(2)} ms without it)`);
}
