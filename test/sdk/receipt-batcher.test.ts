// The SDK's delivered-receipt schedule (src/sdk/receipt-batcher.ts), on a clock that moves only
// when told to.

import { describe, expect, test } from "bun:test";
import { ManualClock } from "../../src/clock.ts";
import { ReceiptBatcher } from "../../src/sdk/receipt-batcher.ts";

interface Sent {
  at: number;
  conv: string;
  seq: number;
}

function setup(connected = true) {
  const clock = new ManualClock(1_000_000);
  const start = clock.now();
  const sent: Sent[] = [];
  const link = { connected };
  const batcher = new ReceiptBatcher({ delayMs: 100, intervalMs: 500 }, (conv, seq) => {
    if (!link.connected) return false;
    sent.push({ at: clock.now() - start, conv, seq });
    return true;
  }, clock);
  return { clock, sent, link, batcher };
}

describe("delivered receipts", () => {
  test("a lone message is acknowledged delayMs after it arrived", () => {
    const { clock, sent, batcher } = setup();
    batcher.add("c1", 7);
    clock.advance(99);
    expect(sent).toEqual([]);
    clock.advance(1);
    expect(sent).toEqual([{ at: 100, conv: "c1", seq: 7 }]);
  });

  test("each conversation's receipt carries its latest seq; receipts due together leave together", () => {
    const { clock, sent, batcher } = setup();
    batcher.add("c1", 1);
    batcher.add("c2", 4);
    clock.advance(10);
    batcher.add("c1", 2);
    batcher.add("c1", 3);
    clock.advance(90);
    expect(sent).toEqual([
      { at: 100, conv: "c1", seq: 3 },
      { at: 100, conv: "c2", seq: 4 },
    ]);
  });

  test("under a steady stream, batches leave once per intervalMs with the latest seq", () => {
    const { clock, sent, batcher } = setup();
    // A message every 10 ms for 2 s.
    for (let seq = 1; seq <= 200; seq++) {
      batcher.add("c1", seq);
      clock.advance(10);
    }
    clock.advance(100);
    expect(sent.map((s) => s.at)).toEqual([100, 600, 1100, 1600, 2100]);
    // Each batch acknowledges everything that had arrived when it left; the last, all of it.
    expect(sent.map((s) => s.seq)).toEqual([10, 60, 110, 160, 200]);
  });

  test("after a quiet spell the next message is acknowledged delayMs after it again", () => {
    const { clock, sent, batcher } = setup();
    batcher.add("c1", 1);
    clock.advance(100);
    batcher.add("c1", 2);
    clock.advance(500);
    expect(sent.map((s) => s.at)).toEqual([100, 600]);
    clock.advance(2_000);
    batcher.add("c1", 3);
    clock.advance(100);
    expect(sent.map((s) => s.at)).toEqual([100, 600, 2700]);
  });

  test("a busy conversation does not hold back a lone message's receipt in another", () => {
    const { clock, sent, batcher } = setup();
    for (let seq = 1; seq <= 200; seq++) {
      batcher.add("group", seq);
      if (seq === 104) batcher.add("direct", 1);
      clock.advance(10);
    }
    clock.advance(100);
    // The direct message arrived at 1030 ms, inside the group's interval; its receipt left 100 ms later.
    expect(sent.filter((s) => s.conv === "direct")).toEqual([{ at: 1130, conv: "direct", seq: 1 }]);
    expect(sent.filter((s) => s.conv === "group").map((s) => s.at)).toEqual([100, 600, 1100, 1600, 2100]);
  });

  test("receipts due without a connection are kept for the next one, and not lost to a later batch", () => {
    const { clock, sent, link, batcher } = setup(false);
    batcher.add("c1", 5);
    batcher.add("c2", 9);
    clock.advance(100);
    expect(sent).toEqual([]);
    link.connected = true;
    batcher.flush();
    expect(sent).toEqual([
      { at: 100, conv: "c1", seq: 5 },
      { at: 100, conv: "c2", seq: 9 },
    ]);
    // Sent once: a later flush has nothing left.
    batcher.flush();
    clock.advance(1_000);
    expect(sent).toHaveLength(2);
  });
});
