// When the idle collector collects: once after a burst has subsided, never under steady load or
// after traffic too small to be a burst. Driven tick by tick, with the frame count set by hand.

import { expect, test } from "bun:test";
import { IdleCollector, MIN_BURST_FRAMES, QUIET_RATIO } from "../../src/idle-collector.ts";

/** A collector over a frame count the test advances; `ticks(rates)` says which ticks collected. */
function collector() {
  let frames = 0;
  let collections = 0;
  const c = new IdleCollector(
    () => frames,
    () => collections++,
  );
  const ticks = (rates: number[]) =>
    rates.map((r) => {
      frames += r;
      const before = collections;
      expect(c.tick()).toBe(collections > before);
      return collections > before;
    });
  return { ticks, collections: () => collections };
}

test("once after a burst, when an interval handles at most a 1/QUIET_RATIO of the busiest one's frames", () => {
  const { ticks, collections } = collector();
  const burst = 10 * MIN_BURST_FRAMES;
  const background = burst / QUIET_RATIO;
  // Traffic after a storm comes in waves (clients catching up): the quiet tick between two is when it collects.
  expect(ticks([burst / 2, burst, background + 1, background, background + 1, background])).toEqual([false, false, false, true, false, false]);
  expect(collections()).toBe(1);
});

test("a second burst is collected after too, measured against its own peak", () => {
  const { ticks } = collector();
  const burst = 4 * MIN_BURST_FRAMES;
  expect(ticks([burst, 0, 3 * burst, burst, 0])).toEqual([false, true, false, false, true]);
});

test("never under steady load, nor after traffic smaller than a burst", () => {
  const steady = collector();
  steady.ticks(Array.from({ length: 50 }, (_, i) => 10 * MIN_BURST_FRAMES + (i % 3) * MIN_BURST_FRAMES));
  expect(steady.collections()).toBe(0);

  const small = collector();
  small.ticks([MIN_BURST_FRAMES - 1, 0, 0, MIN_BURST_FRAMES - 1, 0]);
  expect(small.collections()).toBe(0);
});
