// A full garbage collection once a burst of traffic is over.
//
// JavaScriptCore sizes its heap for the rate at which it last had to allocate, and collects
// mostly when allocation asks for room. After a burst (a reconnect storm after a restart, a
// flood of messages) the burst's garbage therefore stays in the process's memory for as long as
// the node stays quiet, which for a node holding idle connections can be indefinitely: in the
// bench's connection scenario, that garbage is about a third of the memory a new connection
// appears to cost. So once an interval's frames drop to a quarter of the busiest interval's
// since the node last collected, it collects once, while little waits on it.
//
// Heartbeats (PING and its reply) are not counted: they are what a node holding idle connections
// does, and they leave little garbage. Counted, they hid the end of any burst smaller than four
// times their own rate. In the bench's connection scenario (two nodes, 2,000 connections
// heartbeating every 2 s, then 2,000 more opened at once), the collection after the burst ran on
// some nodes and not on others, and the memory a new connection appeared to cost swung between
// 1.1 and 4.8 KiB from round to round; with heartbeats left out it ran on every node, and the
// figure read 2.9 to 3.7 KiB (`bun bench/run.ts connections --peers msgr --rounds 3`, twice each).
//
// Intervals, not a moment of silence: a node is rarely silent for long, so the rate is compared
// with the peak. A node under steady load never triggers it, and a small burst is not worth a
// full collection: JavaScriptCore's own collections handle both.

/** Frames in one interval below which traffic is not a burst. */
export const MIN_BURST_FRAMES = 2_000;
/** The burst is over once an interval handles at most 1/QUIET_RATIO of the busiest one's frames. */
export const QUIET_RATIO = 4;

export class IdleCollector {
  private last: number;
  private peak = 0;

  /**
   * `frames`: the node's frames so far, in and out, heartbeats left out (a count that only rises); `collect`: a full
   * collection (Bun.gc(true) in production).
   */
  constructor(
    private readonly frames: () => number,
    private readonly collect: () => void,
  ) {
    this.last = frames();
  }

  /** Called once per interval. Returns whether it collected. */
  tick(): boolean {
    const now = this.frames();
    const rate = now - this.last;
    this.last = now;
    if (rate > this.peak) this.peak = rate;
    if (this.peak < MIN_BURST_FRAMES || rate * QUIET_RATIO > this.peak) return false;
    this.collect();
    this.peak = rate;
    return true;
  }
}
