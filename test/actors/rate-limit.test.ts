// Token buckets, and shedding them once full: an idle connection or user carries no bucket, and
// dropping one never grants a command that keeping it would have refused.

import { describe, expect, test } from "bun:test";
import { DeviceSession } from "../../src/actors/device-session.ts";
import { RateLimits, TokenBucket } from "../../src/actors/rate-limit.ts";
import type { Transport } from "../../src/actors/transport.ts";
import { DEFAULTS } from "../../src/config/config.ts";
import { Metrics } from "../../src/metrics/metrics.ts";

describe("token bucket", () => {
  test("a burst at once, then the rate; full again once the burst has refilled", () => {
    const b = new TokenBucket(2, 3, 0);
    expect(b.full(0)).toBe(true);
    expect([b.take(0), b.take(0), b.take(0)]).toEqual([0, 0, 0]);
    expect(b.take(0)).toBe(500);
    expect(b.full(0)).toBe(false);
    expect(b.take(500)).toBe(0);
    // One token left to refill at 500 ms, then 3 more: 2 per second.
    expect(b.full(1_999)).toBe(false);
    expect(b.full(2_000)).toBe(true);
  });
});

describe("rate limits of a user", () => {
  test("shed drops the full buckets, and reports when none is left", () => {
    const rates = { ...DEFAULTS.rates, send: { perSecond: 1, burst: 2 }, sync: { perSecond: 10, burst: 1 } };
    const r = new RateLimits(rates);
    expect(r.shed(0)).toBe(true);
    expect([r.take("send", 0), r.take("send", 0), r.take("send", 0)]).toEqual([0, 0, 1_000]);
    expect(r.take("sync", 0)).toBe(0);
    // sync has refilled by 100 ms; send needs 2 s.
    expect(r.shed(100)).toBe(false);
    expect(r.take("sync", 100)).toBe(0);
    expect(r.take("sync", 100)).toBe(100);
    // Still refused: shedding kept the bucket that was not full.
    expect(r.take("send", 100)).toBe(900);
    expect(r.shed(2_200)).toBe(true);
    // A fresh burst, as the full bucket would have given.
    expect([r.take("send", 2_200), r.take("send", 2_200), r.take("send", 2_200)]).toEqual([0, 0, 1_000]);
  });
});

describe("a connection's idle state", () => {
  const transport: Transport = {
    closed: false,
    send: () => true,
    close: () => {},
    bufferedAmount: () => 0,
    drained: () => Promise.resolve(),
    batchFrames: () => {},
    subscribe: () => {},
    unsubscribe: () => {},
  };

  test("shedding the command bucket and the error windows changes no decision", () => {
    const s = new DeviceSession("u", "d", Infinity, transport, { metrics: new Metrics(false), commandRate: { perSecond: 1, burst: 2 } }, 0);
    expect([s.takeCommandToken(0), s.takeCommandToken(0), s.takeCommandToken(0)]).toEqual([0, 0, 1_000]);
    s.shed(500);
    expect(s.takeCommandToken(500)).toBe(500);
    // Two protocol errors allowed per 10 s window: the window survives a shed inside it.
    expect(s.protocolError(1_000, 2)).toBe(false);
    expect(s.protocolError(1_000, 2)).toBe(false);
    s.shed(5_000);
    expect(s.protocolError(5_000, 2)).toBe(true);
  });

  test("after the window has passed and the bucket refilled, a shed connection starts afresh", () => {
    const s = new DeviceSession("u", "d", Infinity, transport, { metrics: new Metrics(false), commandRate: { perSecond: 1, burst: 2 } }, 0);
    expect([s.takeCommandToken(0), s.takeCommandToken(0)]).toEqual([0, 0]);
    expect(s.protocolError(0, 1)).toBe(false);
    s.shed(10_000);
    expect([s.takeCommandToken(10_000), s.takeCommandToken(10_000), s.takeCommandToken(10_000)]).toEqual([0, 0, 1_000]);
    expect(s.protocolError(10_000, 1)).toBe(false);
  });
});
