// Behaviour every Bus backend must show. Each backend's test file calls busContract() with a
// factory that opens two bus instances, standing for two nodes of a cluster. An in-process bus
// has one "cluster" only, so it passes the same instance twice (a === b); the assertions hold
// either way because they count what each listener received, never which node it was on.

import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import type { Bus, BusListener } from "../../src/bus/bus.ts";
import type { BusEvent, MessageEvent } from "../../src/bus/events.ts";
import { subjects } from "../../src/bus/subjects.ts";
import { MessageKind } from "../../src/proto/codes.ts";
import { until } from "../helpers/wait.ts";

export type OpenBuses = () => Promise<{ a: Bus; b: Bus; close(): Promise<void> }>;

/** A message id above 2^53, where a double would lose the low bits. */
const BIG_ID = (1n << 62n) + 12_345n;

export function messageEvent(conv: string, seq: number, body: Uint8Array = new Uint8Array([seq & 0xff])): MessageEvent {
  return {
    t: "msg",
    origin: 0,
    msg: { conv, seq, id: BIG_ID + BigInt(seq), from: "alice", dev: "phone", cid: `c-${seq}`, kind: MessageKind.Text, body, ts: 1_760_000_000_000 + seq },
  };
}

/** A listener that records what it receives. */
export function recorder(): BusListener & { events: BusEvent[] } {
  const events: BusEvent[] = [];
  return { events, onEvent: (e) => void events.push(e) };
}


let barriers = 0;

/**
 * Resolves once every subscribe and unsubscribe made so far on `a` and `b` is in effect, and
 * everything each published so far has been delivered to the other. For each direction it
 * subscribes to a fresh subject and publishes there until it arrives: a NATS server handles one
 * connection's commands in order, so the barrier arriving means what came before it has too.
 */
export async function settle(a: Bus, b: Bus): Promise<void> {
  for (const [sub, pub] of [
    [a, b],
    [b, a],
  ] as const) {
    const subject = subjects.user(`barrier-${++barriers}`);
    let seen = false;
    const barrier: BusListener = { onEvent: () => (seen = true) };
    sub.subscribe(subject, barrier);
    const deadline = Date.now() + 10_000;
    while (!seen) {
      if (Date.now() > deadline) throw new Error("bus barrier timed out");
      pub.publish(subject, { t: "typing", conv: "barrier", user: "barrier", dev: "barrier", on: true });
      await Bun.sleep(5);
    }
    sub.unsubscribe(subject, barrier);
  }
}

export function busContract(name: string, open: OpenBuses): void {
  describe(name, () => {
    let a: Bus;
    let b: Bus;
    let close: () => Promise<void>;

    beforeEach(async () => {
      ({ a, b, close } = await open());
    });
    afterEach(async () => {
      await close();
    });

    test("an event published on one node reaches its subscribers on both nodes, once each", async () => {
      const subject = subjects.conversation("conv-1");
      const onA = recorder();
      const onB = recorder();
      a.subscribe(subject, onA);
      b.subscribe(subject, onB);
      await settle(a, b);

      a.publish(subject, messageEvent("conv-1", 1));
      b.publish(subject, messageEvent("conv-1", 2));
      await until(() => onA.events.length >= 2 && onB.events.length >= 2, 10_000, "both events on both nodes");
      await settle(a, b);

      for (const r of [onA, onB]) {
        expect(r.events.map((e) => (e as MessageEvent).msg.seq).sort()).toEqual([1, 2]);
      }
    });

    test("1,000 events on one subject arrive in publish order", async () => {
      const subject = subjects.conversation("ordered");
      const onB = recorder();
      b.subscribe(subject, onB);
      await settle(a, b);

      for (let seq = 1; seq <= 1000; seq++) a.publish(subject, messageEvent("ordered", seq));
      await until(() => onB.events.length >= 1000, 10_000, "1,000 events");

      expect(onB.events.map((e) => (e as MessageEvent).msg.seq)).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
    });

    test("several listeners on one subject of one node each receive every event once", async () => {
      const subject = subjects.presence("carol");
      const rs = [recorder(), recorder(), recorder()];
      for (const r of rs) b.subscribe(subject, r);
      await settle(a, b);

      const event: BusEvent = { t: "presence", info: { user: "carol", online: true, lastSeen: 0 } };
      a.publish(subject, event);
      await until(() => rs.every((r) => r.events.length >= 1), 10_000, "every listener");
      await settle(a, b);

      for (const r of rs) expect(r.events).toEqual([event]);
    });

    test("unsubscribing stops delivery to that listener only", async () => {
      const subject = subjects.user("dave");
      const gone = recorder();
      const stays = recorder();
      b.subscribe(subject, gone);
      b.subscribe(subject, stays);
      await settle(a, b);

      b.unsubscribe(subject, gone);
      b.unsubscribe(subject, gone); // a second call is harmless
      a.publish(subject, { t: "revoke", user: "dave", device: "phone" });
      await until(() => stays.events.length >= 1, 10_000, "the remaining listener");
      await settle(a, b);

      expect(gone.events).toEqual([]);
      expect(stays.events).toEqual([{ t: "revoke", user: "dave", device: "phone" }]);
    });

    test("a listener subscribed twice hears each event twice, until it is unsubscribed twice", async () => {
      const subject = subjects.user("twice");
      const r = recorder();
      b.subscribe(subject, r);
      b.subscribe(subject, r);
      await settle(a, b);
      a.publish(subject, { t: "revoke", user: "twice", device: "1" });
      await until(() => r.events.length >= 2, 10_000, "the event twice");

      b.unsubscribe(subject, r);
      await settle(a, b);
      a.publish(subject, { t: "revoke", user: "twice", device: "2" });
      await until(() => r.events.length >= 3, 10_000, "the second event once");

      b.unsubscribe(subject, r);
      await settle(a, b);
      a.publish(subject, { t: "revoke", user: "twice", device: "3" });
      await settle(a, b);
      expect(r.events.map((e) => (e as { device: string }).device)).toEqual(["1", "1", "2"]);
    });

    test("after the last listener of a subject leaves, nothing arrives, and subscribing again works", async () => {
      const subject = subjects.user("erin");
      const first = recorder();
      const second = recorder();
      b.subscribe(subject, first);
      b.subscribe(subject, second);
      await settle(a, b);
      b.unsubscribe(subject, first);
      b.unsubscribe(subject, second);
      await settle(a, b);

      a.publish(subject, { t: "revoke", user: "erin", device: "old" });
      await settle(a, b);
      expect(first.events).toEqual([]);
      expect(second.events).toEqual([]);

      const again = recorder();
      b.subscribe(subject, again);
      await settle(a, b);
      a.publish(subject, { t: "revoke", user: "erin", device: "new" });
      await until(() => again.events.length >= 1, 10_000, "the new listener");
      await settle(a, b);
      expect(again.events).toEqual([{ t: "revoke", user: "erin", device: "new" }]);
      expect(first.events).toEqual([]);
    });

    test("once ready() resolves, a subscription hears what another node publishes at once, and what was published has been handed over", async () => {
      // Many fresh subjects, each published to the moment the subscriber's ready() resolves: a
      // subscription still on its way to the server would miss its event.
      const heard = Array.from({ length: 50 }, () => recorder());
      for (const [i, r] of heard.entries()) {
        b.subscribe(subjects.user(`ready-${i}`), r);
        await b.ready();
        a.publish(subjects.user(`ready-${i}`), { t: "revoke", user: `ready-${i}`, device: "d" });
      }
      // The publisher's ready(): its events have reached the subscriber's connection.
      await a.ready();
      await until(() => heard.every((r) => r.events.length === 1), 10_000, "every event");
      await settle(a, b);
      expect(heard.map((r) => r.events.length)).toEqual(heard.map(() => 1));
    });

    test("bigint ids above 2^53 and binary bodies round-trip exactly", async () => {
      const subject = subjects.conversation("binary");
      const onB = recorder();
      b.subscribe(subject, onB);
      await settle(a, b);

      const every = Uint8Array.from({ length: 256 }, (_, i) => i);
      const large = Uint8Array.from({ length: 60_000 }, (_, i) => (i * 31) & 0xff);
      const sent = [messageEvent("binary", 1, every), messageEvent("binary", 2, large), messageEvent("binary", 3, new Uint8Array())];
      for (const e of sent) a.publish(subject, e);
      await until(() => onB.events.length >= 3, 10_000, "three messages");

      onB.events.forEach((e, i) => {
        const got = (e as MessageEvent).msg;
        const want = sent[i]!.msg;
        expect(typeof got.id).toBe("bigint");
        expect(got.id).toBe(want.id);
        expect(got.id > BigInt(Number.MAX_SAFE_INTEGER)).toBe(true);
        expect(got.body).toBeInstanceOf(Uint8Array);
        expect(Buffer.compare(got.body, want.body)).toBe(0);
        expect({ ...got, body: null }).toEqual({ ...want, body: null });
      });
    });

    test("nothing arrives on other subjects, including ones that look like wildcards or prefixes", async () => {
      const mine = recorder();
      const star = recorder();
      const tail = recorder();
      b.subscribe(subjects.user("frank"), mine);
      b.subscribe(subjects.user("*"), star);
      b.subscribe(subjects.user(">"), tail);
      await settle(a, b);

      a.publish(subjects.user("frank.x"), { t: "revoke", user: "frank.x", device: "d" });
      a.publish(subjects.presence("frank"), { t: "presence", info: { user: "frank", online: true, lastSeen: 0 } });
      a.publish(subjects.conversation("frank"), messageEvent("frank", 1));
      a.publish(subjects.user("george"), { t: "revoke", user: "george", device: "d" });
      a.publish(subjects.user("frank"), { t: "revoke", user: "frank", device: "d" });
      await until(() => mine.events.length >= 1, 10_000, "frank's event");
      await settle(a, b);

      expect(mine.events).toEqual([{ t: "revoke", user: "frank", device: "d" }]);
      expect(star.events).toEqual([]);
      expect(tail.events).toEqual([]);
    });
  });
}
