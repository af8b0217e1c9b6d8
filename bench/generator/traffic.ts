// Message traffic between connections of one generator process, shared by the direct and group
// scenarios and by every adapter:
//   - closed loop: each sender keeps `window` messages in flight and sends the next one when a
//     message has reached all its recipients; it finds the most the system delivers (saturation);
//   - open loop: messages leave on a fixed schedule at a total rate, whatever the system does,
//     and latency is measured from the scheduled time (no coordinated omission).
// Both end by themselves: sending stops after the duration, then the run waits for the messages
// still in flight for at most the drain time and counts what never arrived.

import type { HistogramData } from "../lib/histogram.ts";
import { LatencyHistogram } from "../lib/histogram.ts";
import type { Conn } from "../adapters/types.ts";
import { readStamp, stampBody } from "./payload.ts";
import type { Counters } from "./protocol.ts";

export interface Sender {
  /** Index of the sending connection (receivers use it to skip their own messages). */
  index: number;
  conn: Conn;
  route: string;
}

export interface TrafficResult {
  /** Messages sent and deliveries received (a group message has many deliveries). */
  sent: number;
  delivered: number;
  /** Messages that never reached every recipient within the drain time. */
  incomplete: number;
  /** Deliveries missing from those messages. */
  missing: number;
  sendErrors: number;
  firstSendError?: string;
  /** From the first send until the last delivery or the end of the drain. */
  elapsedMs: number;
  deliver: HistogramData;
  /** Send to server acknowledgement, where the protocol has one. */
  ack?: HistogramData;
  /** Open loop: how late the generator sent messages behind their schedule. */
  sendLag?: HistogramData;
}

const DRAIN_POLL_MS = 10;
/** Open-loop schedule ticks (deliveries also advance the schedule, with µs precision under load). */
const TICK_MS = 1;

interface InFlight {
  remaining: number;
  sender: Sender;
}

class Run {
  readonly deliver = new LatencyHistogram();
  readonly ack = new LatencyHistogram();
  readonly sendLag = new LatencyHistogram();
  readonly inFlight = new Map<number, InFlight>();
  readonly startedAt = performance.now();
  lastDeliveryAt = this.startedAt;
  sending = true;
  sent = 0;
  delivered = 0;
  sendErrors = 0;
  firstSendError?: string;

  constructor(readonly onComplete: (sender: Sender) => void) {}
}

export class Traffic {
  private run: Run | null = null;
  private nextId = 1;
  private tick: () => void = () => {};

  constructor(
    private readonly senders: Sender[],
    /** Deliveries each message should get: 1 for 1:1, members - 1 for a group. */
    private readonly fanout: number,
    private readonly bodyBytes: number,
    private readonly acks: boolean,
    private readonly counters: Counters,
  ) {
    if (senders.length === 0) throw new Error("traffic needs at least one sender");
  }

  /** Counts the messages `conn` (connection number `index`) receives. */
  receiveOn(conn: Conn, index: number): void {
    conn.onMessage((body) => this.received(index, body));
  }

  async closedLoop(durationMs: number, window: number, drainMs: number): Promise<TrafficResult> {
    const run = (this.run = new Run((sender) => run.sending && this.send(run, sender, performance.now())));
    for (const s of this.senders) for (let i = 0; i < window; i++) this.send(run, s, performance.now());
    await Bun.sleep(durationMs);
    return this.finish(run, drainMs);
  }

  async openLoop(durationMs: number, ratePerSec: number, drainMs: number): Promise<TrafficResult> {
    const run = (this.run = new Run(() => {}));
    const start = run.startedAt;
    const end = start + durationMs;
    const intervalMs = 1000 / ratePerSec;
    let i = 0;
    this.tick = () => {
      const now = performance.now();
      const until = Math.min(now, end);
      for (let due = start + i * intervalMs; due <= until; due = start + ++i * intervalMs) {
        run.sendLag.recordMs(now - due);
        this.send(run, this.senders[i % this.senders.length]!, due);
      }
    };
    const timer = setInterval(this.tick, TICK_MS);
    await Bun.sleep(durationMs);
    this.tick();
    clearInterval(timer);
    this.tick = () => {};
    return this.finish(run, drainMs, true);
  }

  private send(run: Run, sender: Sender, intendedMs: number): void {
    const id = this.nextId;
    this.nextId = (this.nextId % 0xffff_fffe) + 1;
    run.inFlight.set(id, { remaining: this.fanout, sender });
    run.sent++;
    this.counters.sent++;
    const acked = sender.conn.send(sender.route, stampBody(this.bodyBytes, { intendedMs, sender: sender.index, id }));
    acked?.then(
      () => run.ack.recordMs(performance.now() - intendedMs),
      (e: Error) => {
        run.sendErrors++;
        run.firstSendError ??= e.message;
        run.inFlight.delete(id);
      },
    );
  }

  private received(receiver: number, body: Uint8Array): void {
    this.tick();
    const run = this.run;
    const stamp = readStamp(body);
    // Own messages (some servers echo a group message to its sender) and stragglers from an
    // earlier run are not deliveries of this run.
    if (!run || !stamp || stamp.sender === receiver) return;
    const m = run.inFlight.get(stamp.id);
    if (!m) return;
    const now = performance.now();
    run.deliver.recordMs(now - stamp.intendedMs);
    run.delivered++;
    run.lastDeliveryAt = now;
    this.counters.delivered++;
    if (--m.remaining > 0) return;
    run.inFlight.delete(stamp.id);
    run.onComplete(m.sender);
  }

  private async finish(run: Run, drainMs: number, openLoop = false): Promise<TrafficResult> {
    run.sending = false;
    const deadline = performance.now() + drainMs;
    while (run.inFlight.size > 0 && performance.now() < deadline) await Bun.sleep(DRAIN_POLL_MS);
    if (this.run === run) this.run = null;
    let missing = 0;
    for (const m of run.inFlight.values()) missing += m.remaining;
    const result: TrafficResult = {
      sent: run.sent,
      delivered: run.delivered,
      incomplete: run.inFlight.size,
      missing,
      sendErrors: run.sendErrors,
      elapsedMs: run.lastDeliveryAt - run.startedAt,
      deliver: run.deliver.toData(),
    };
    if (run.firstSendError !== undefined) result.firstSendError = run.firstSendError;
    if (this.acks) result.ack = run.ack.toData();
    if (openLoop) result.sendLag = run.sendLag.toData();
    return result;
  }
}
