// The fan-out's bookkeeping, with an in-memory transport that records what the edge would be
// asked to do (the edge side is covered end to end in test/e2e/group-fanout.test.ts).

import { expect, test } from "bun:test";
import { Metrics } from "../../src/metrics/metrics.ts";
import type { WireMessage } from "../../src/proto/types.ts";
import { ConversationFanout, FANOUT_MIN_MEMBERS } from "../../src/actors/conversation-fanout.ts";
import { DeviceSession } from "../../src/actors/device-session.ts";
import type { Broadcaster, Transport } from "../../src/actors/transport.ts";
import type { UserActor } from "../../src/actors/user-actor.ts";

class RecordingTransport implements Transport {
  closed = false;
  readonly topics = new Set<string>();
  send = () => true;
  close = () => {};
  bufferedAmount = () => 0;
  drained = () => Promise.resolve();
  batchFrames = () => {};
  subscribe(topic: string) {
    this.topics.add(topic);
  }
  unsubscribe(topic: string) {
    this.topics.delete(topic);
  }
}

function setup(localMembers = FANOUT_MIN_MEMBERS) {
  const published: { except?: Transport }[] = [];
  const sessions = new Map<string, DeviceSession>();
  const metrics = new Metrics(false);
  const broadcaster: Broadcaster = {
    publish: (_topic, _frame, except) => published.push({ except }),
  };
  const f = new ConversationFanout("c1", { broadcaster, sessionOf: (u, d) => sessions.get(`${u}/${d}`) }, metrics);
  const left: string[] = [];
  for (let i = 0; i < localMembers; i++) {
    const user = `u${i}`;
    // The fan-out only tells a member's actor which conversation one of its devices left.
    f.members.set(user, { leftTopic: (conv: string) => left.push(`${user}:${conv}`) } as unknown as UserActor);
  }
  const device = (user: string, dev = "d") => {
    const s = new DeviceSession(user, dev, Infinity, new RecordingTransport(), { metrics, commandRate: { perSecond: 1, burst: 1 } }, 0);
    s.synced = true;
    sessions.set(`${user}/${dev}`, s);
    return s;
  };
  const msg = (seq: number, from = "u0", dev = "d"): WireMessage => ({ conv: "c1", seq, id: BigInt(seq), from, dev, cid: `m${seq}`, kind: 1, body: new Uint8Array(), ts: 0 });
  const topics = (s: DeviceSession) => (s.transport as RecordingTransport).topics;
  return { f, device, msg, published, metrics, left, topics };
}

test("a device joins once it has everything the node heard, and then gets messages by the topic, its own excepted", () => {
  const { f, device, msg, published, metrics, topics } = setup();
  const a = device("u0");
  const b = device("u1");
  expect(f.join(a, 1)).toBe(false); // nothing heard yet
  f.heard(msg(1));
  expect(f.join(a, 0)).toBe(false); // behind
  expect(f.join(a, 1)).toBe(true);
  expect(f.join(b, 1)).toBe(true);
  expect([...topics(a)]).toEqual(["c1"]);
  expect(a.live?.has("c1")).toBe(true);

  f.heard(msg(2, "u0"));
  expect(published).toHaveLength(1);
  expect(published[0]!.except).toBe(a.transport);
  expect(metrics.messagesFannedOut.n).toBe(1);
  f.heard(msg(3, "u2"));
  expect(published[1]!.except).toBeUndefined();
  expect(metrics.messagesFannedOut.n).toBe(3);
  // Heard again (a republish after an outage): written to nobody.
  f.heard(msg(3, "u2"));
  expect(published).toHaveLength(2);
});

test("a gap sends every device back to per-device delivery from the last seq heard in order", () => {
  const { f, device, msg, published, left, topics } = setup();
  const a = device("u0");
  const b = device("u1");
  f.heard(msg(1));
  f.join(a, 1);
  f.join(b, 1);
  f.heard(msg(2));
  f.heard(msg(5));
  expect(published).toHaveLength(1);
  for (const s of [a, b]) {
    expect(s.live?.has("c1")).toBe(false);
    expect(s.sent.get("c1")).toBe(2);
    expect(topics(s).size).toBe(0);
  }
  expect(left).toEqual(["u0:c1", "u1:c1"]);
  // They may join again at what the node has heard now.
  expect(f.join(a, 2)).toBe(false);
  expect(f.join(a, 5)).toBe(true);
});

test("removed members' devices leave the topic; the others stay", () => {
  const { f, device, msg, topics } = setup();
  const a = device("u0");
  const b = device("u1");
  const b2 = device("u1", "d2");
  f.heard(msg(1));
  for (const s of [a, b, b2]) f.join(s, 1);
  f.removed(["u1"]);
  expect([a, b, b2].map((s) => topics(s).size)).toEqual([1, 0, 0]);
});

test("no topic below the member threshold, for unsynced devices, or without an edge", () => {
  const few = setup(FANOUT_MIN_MEMBERS - 1);
  few.f.heard(few.msg(1));
  expect(few.f.join(few.device("u0"), 1)).toBe(false);

  const { f, device, msg } = setup();
  f.heard(msg(1));
  const unsynced = device("u0");
  unsynced.synced = false;
  expect(f.join(unsynced, 1)).toBe(false);

  const m = new Metrics(false);
  const noEdge = new ConversationFanout("c1", { broadcaster: null, sessionOf: () => undefined }, m);
  for (let i = 0; i < FANOUT_MIN_MEMBERS; i++) noEdge.members.set(`u${i}`, {} as UserActor);
  noEdge.heard(msg(1));
  expect(noEdge.join(device("u1"), 1)).toBe(false);
});
