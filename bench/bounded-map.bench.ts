// What it costs to keep "the most recent N" in a Map once it is full: each insert evicts the
// oldest entry. A plain Map evicting through a fresh iterator (`map.delete(map.keys().next().value)`)
// against src/bounded-map.ts, at the sizes msgr's windows and caches use. Per size, 200,000 inserts
// of new keys into a full map, in rounds of 20,000; µs per insert, medians of the rounds (the
// plain Map's cost climbs within a run as holes pile up at the front of its table, then drops
// when the table is rebuilt: the range shows it).
// Run: bun bench/bounded-map.bench.ts

import { BoundedMap } from "../src/bounded-map.ts";

const SIZES = [2_048, 10_000, 100_000];
const ROUNDS = 10;
const PER_ROUND = 20_000;

interface Window {
  set(key: number, value: number): void;
}

function plainMap(max: number): Window {
  const map = new Map<number, number>();
  return {
    set(key, value) {
      map.set(key, value);
      if (map.size > max) map.delete(map.keys().next().value!);
    },
  };
}

function measure(w: Window, max: number): number[] {
  let key = 0;
  for (let i = 0; i < max; i++) w.set(key++, i);
  const perRound: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const start = performance.now();
    for (let i = 0; i < PER_ROUND; i++) w.set(key++, i);
    perRound.push(((performance.now() - start) * 1000) / PER_ROUND);
  }
  return perRound;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const show = (xs: number[]) => `${median(xs).toFixed(2)} µs (${Math.min(...xs).toFixed(2)} to ${Math.max(...xs).toFixed(2)})`;
console.log(`µs per insert into a full map, median of ${ROUNDS} rounds of ${PER_ROUND.toLocaleString("en")} (range):`);
for (const max of SIZES) {
  const plain = measure(plainMap(max), max);
  const bounded = measure(new BoundedMap<number, number>(max), max);
  console.log(`${max.toLocaleString("en").padStart(8)} entries: Map evicting its first key ${show(plain)}; BoundedMap ${show(bounded)}`);
}
