// PushNotifier with the real WebPushProvider and a real push service on loopback. Subscriptions and
// presence are small in-test stores implementing the two interfaces the notifier reads. Time is a
// ManualClock: the tests move it on when every lane rests on its timer, never sleep through it.

import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import pino from "pino";
import { generateVAPIDKeys } from "web-push";
import { ManualClock } from "../../src/clock.ts";
import { PushNotifier } from "../../src/push/notifier.ts";
import { WebPushProvider } from "../../src/push/web-push-provider.ts";
import type { PresenceInfo } from "../../src/proto/types.ts";
import type { MetadataStore, PresenceStore, PushSubscriptionRecord } from "../../src/storage/types.ts";
import { until as waitFor } from "../helpers/harness.ts";
import { decryptPush, makeSubscriber, startPushService, type PushService, type Subscriber } from "./push-service.ts";

const MIN_INTERVAL_MS = 400;

class Subscriptions implements Pick<MetadataStore, "listPushSubscriptions" | "deletePushSubscription"> {
  readonly records: PushSubscriptionRecord[] = [];
  async listPushSubscriptions(user: string): Promise<PushSubscriptionRecord[]> {
    return this.records.filter((r) => r.user === user);
  }
  async deletePushSubscription(endpoint: string): Promise<void> {
    const i = this.records.findIndex((r) => r.endpoint === endpoint);
    if (i >= 0) this.records.splice(i, 1);
  }
}

class Presence implements Pick<PresenceStore, "get"> {
  readonly online = new Map<string, string[]>();
  /** The users of each lookup, in order. */
  readonly asked: string[][] = [];
  async get(users: string[]): Promise<PresenceInfo[]> {
    this.asked.push(users);
    return users.map((user) => ({ user, online: (this.online.get(user) ?? []).length > 0, lastSeen: 0 }));
  }
}

let service: PushService;
let provider: WebPushProvider;
let notifiers: PushNotifier[] = [];

beforeAll(() => {
  service = startPushService();
  provider = new WebPushProvider({
    vapid: { ...generateVAPIDKeys(), subject: "mailto:ops@example.com" },
    timeoutMs: 2000,
    endpointAllowlist: [service.origin],
  });
});
afterEach(() => {
  for (const n of notifiers) n.close();
  notifiers = [];
});
afterAll(() => service.stop());

function setup(retry?: { attempts: number; baseMs: number; maxMs: number }, logged?: { msg: string }[], muted?: (conv: string, users: string[], nowMs: number) => Promise<Set<string>>) {
  const subs = new Subscriptions();
  const presence = new Presence();
  const outcomes: string[] = [];
  const clock = new ManualClock();
  const notifier = new PushNotifier({
    metadata: subs,
    presence,
    provider,
    log: logged ? pino({ level: "info" }, { write: (line: string) => void logged.push(JSON.parse(line)) }) : pino({ level: "silent" }),
    clock,
    minIntervalMs: MIN_INTERVAL_MS,
    ttlSec: 3600,
    retry,
    onOutcome: (service, outcome) => outcomes.push(`${service}:${outcome}`),
    muted,
  });
  notifiers.push(notifier);
  // Each test uses its own user names, so endpoints (and the statuses set for them) do not collide.
  const subscribe = (user: string, device: string): Subscriber => {
    const s = makeSubscriber(service.origin, user, device);
    subs.records.push(s.record);
    return s;
  };
  /** Every lane has pushed and waits on its timer (nothing in flight): only time moves it on. */
  const resting = () => notifier["lanes"].size > 0 && [...notifier["lanes"].values()].every((l) => !l.inFlight && l.cancelTimer !== null);
  /** Moves the clock on by the quiet interval whenever every lane rests, until `cond` holds. */
  const advanceUntil = async (cond: () => boolean, what: string) => {
    for (;;) {
      await waitFor(() => cond() || resting(), 10_000, what);
      if (cond()) return;
      clock.advance(MIN_INTERVAL_MS);
    }
  };
  return { subs, presence, notifier, subscribe, outcomes, clock, resting, advanceUntil };
}

/** Pushes the service received for one subscriber since `from`, decrypted. */
function pushesTo(sub: Subscriber, from: number): unknown[] {
  const path = new URL(sub.record.endpoint).pathname;
  return service.received
    .slice(from)
    .filter((r) => r.path === path)
    .map((r) => JSON.parse(decryptPush(sub, r.body)));
}

describe("PushNotifier", () => {
  test("a user who muted the conversation is not pushed; the others are", async () => {
    const asked: [string, string[]][] = [];
    const { notifier, subscribe } = setup(undefined, undefined, async (conv, users) => {
      asked.push([conv, users]);
      return new Set(conv === "muted-conv" ? ["mute-alice"] : []);
    });
    const alice = subscribe("mute-alice", "phone");
    const bob = subscribe("mute-bob", "phone");
    const from = service.received.length;
    notifier.notify(["mute-alice", "mute-bob"], "muted-conv");
    // Bob's push is sent after the one decision that left Alice out.
    await service.waitFor(from + 1);
    expect(pushesTo(bob, from)).toEqual([{ type: "message", conv: "muted-conv", count: 1 }]);
    expect(pushesTo(alice, from)).toEqual([]);
    expect(asked).toEqual([["muted-conv", ["mute-alice", "mute-bob"]]]);
    // Another conversation of hers is not muted.
    notifier.notify(["mute-alice"], "other-conv");
    await service.waitFor(from + 2);
    expect(pushesTo(alice, from)).toEqual([{ type: "message", conv: "other-conv", count: 1 }]);
  });

  test("users remembered to have no subscription cost neither a presence lookup nor a mute query", async () => {
    const asked: string[][] = [];
    const { notifier, subscribe, presence } = setup(undefined, undefined, async (_conv, users) => {
      asked.push(users);
      return new Set();
    });
    const dave = subscribe("sub-dave", "phone");
    const from = service.received.length;
    // One lookup chain: by the time Dave's push reaches the service, everyone has been decided on.
    notifier.notify(["nosub-carol", "sub-dave", "nosub-erin"], "c");
    await service.waitFor(from + 1);
    expect(pushesTo(dave, from)).toEqual([{ type: "message", conv: "c", count: 1 }]);
    // Nobody's subscriptions were known yet: presence was asked about all three, mutes about Dave.
    expect(presence.asked).toEqual([["nosub-carol", "sub-dave", "nosub-erin"]]);
    expect(asked).toEqual([["sub-dave"]]);
    // Now Carol and Erin are remembered to have none: only Dave is asked about.
    notifier.notify(["nosub-carol", "sub-dave", "nosub-erin"], "c");
    await waitFor(() => asked.length === 2);
    expect(presence.asked[1]).toEqual(["sub-dave"]);
    expect(asked[1]).toEqual(["sub-dave"]);
    // Nobody with a subscription: nothing is asked at all (a third mute query would follow the lookup).
    notifier.notify(["nosub-carol", "nosub-erin"], "c");
    notifier.notify(["sub-dave"], "c");
    await waitFor(() => asked.length === 3);
    expect(presence.asked.slice(2)).toEqual([["sub-dave"]]);
  });

  test("no push while the user has a device online; a push once none is", async () => {
    const { presence, notifier, subscribe, resting } = setup();
    const phone = subscribe("alice", "phone");
    const from = service.received.length;

    // Online for c1, offline for c2: a push for c1 would come first and hold c2 back. Presence
    // is asked as notify is called, before the subscriptions are read.
    presence.online.set(phone.record.user, ["laptop"]);
    notifier.notify([phone.record.user], "c1");
    presence.online.delete(phone.record.user);
    notifier.notify([phone.record.user], "c2");
    await service.waitFor(from + 1);
    await waitFor(resting);
    expect(pushesTo(phone, from)).toEqual([{ type: "message", conv: "c2", count: 1 }]);
  });

  test("pushes coalesce per device: one at once, one trailing that counts the rest", async () => {
    const { notifier, subscribe, clock, resting } = setup();
    const phone = subscribe("bob", "phone");
    const tablet = subscribe("bob", "tablet");
    const from = service.received.length;

    for (let i = 0; i < 10; i++) notifier.notify([phone.record.user], i < 9 ? "c1" : "c2");
    // One push per device at once, without the clock moving; the rest waits for the interval.
    await service.waitFor(from + 2);
    await waitFor(resting);
    expect(service.received.length).toBe(from + 2);
    clock.advance(MIN_INTERVAL_MS - 1);
    expect(service.received.length).toBe(from + 2);
    clock.advance(1);
    await service.waitFor(from + 4);
    // Then nothing is pending: the next interval ends with the lanes forgotten.
    await waitFor(resting);
    clock.advance(MIN_INTERVAL_MS);
    expect(notifier["lanes"].size).toBe(0);

    for (const device of [phone, tablet]) {
      // The trailing push names the latest conversation and stands for the 9 messages after the first.
      expect(pushesTo(device, from)).toEqual([
        { type: "message", conv: "c1", count: 1 },
        { type: "message", conv: "c2", count: 9 },
      ]);
    }
  });

  test("after a quiet interval the next message pushes at once, and idle state is dropped", async () => {
    const { notifier, subscribe, clock, resting } = setup();
    const phone = subscribe("carol", "phone");
    const from = service.received.length;

    notifier.notify([phone.record.user], "c1");
    await service.waitFor(from + 1);
    await waitFor(resting);
    expect(notifier["lanes"].size).toBe(1);
    clock.advance(MIN_INTERVAL_MS);
    expect(notifier["lanes"].size).toBe(0);

    // At once: the clock has not moved since.
    notifier.notify([phone.record.user], "c3");
    await service.waitFor(from + 2);
    expect(pushesTo(phone, from)).toEqual([
      { type: "message", conv: "c1", count: 1 },
      { type: "message", conv: "c3", count: 1 },
    ]);
  });

  test("a subscription answered 410 is deleted", async () => {
    const { subs, notifier, subscribe } = setup();
    const phone = subscribe("dave", "phone");
    const laptop = subscribe("dave", "laptop");
    service.statusFor.set(new URL(phone.record.endpoint).pathname, 410);
    const from = service.received.length;

    notifier.notify([phone.record.user], "c1");
    await service.waitFor(from + 2);
    await waitFor(() => subs.records.length === 1, 10_000, "the gone subscription to be deleted");
    expect(subs.records.map((r) => r.endpoint)).toEqual([laptop.record.endpoint]);
  });

  test("a push the service could not take (503) is retried with backoff, folded with what arrived meanwhile", async () => {
    const { subs, notifier, subscribe, outcomes, advanceUntil } = setup({ attempts: 3, baseMs: 20, maxMs: 100 });
    const phone = subscribe("erin", "phone");
    service.script.set(new URL(phone.record.endpoint).pathname, [503, 503]);
    const from = service.received.length;

    notifier.notify([phone.record.user], "c1");
    notifier.notify([phone.record.user], "c2");
    await advanceUntil(() => outcomes.length === 3, "three attempts");
    // The two failed attempts and the one that got through carry both messages.
    expect(pushesTo(phone, from).at(-1)).toEqual({ type: "message", conv: "c2", count: 2 });
    expect(outcomes).toEqual(["webpush:retry", "webpush:retry", "webpush:sent"]);
    expect(subs.records).toContain(phone.record);
  });

  test("retries stop after push.retryAttempts; a push refused for our own reasons (400) is not retried", async () => {
    const logged: { msg: string }[] = [];
    const { subs, notifier, subscribe, outcomes, advanceUntil } = setup({ attempts: 2, baseMs: 10, maxMs: 20 }, logged);
    const busy = subscribe("gina", "phone");
    service.statusFor.set(new URL(busy.record.endpoint).pathname, 503);
    const refused = subscribe("hank", "phone");
    service.statusFor.set(new URL(refused.record.endpoint).pathname, 400);

    notifier.notify([busy.record.user, refused.record.user], "c1");
    await advanceUntil(() => logged.some((l) => l.msg === "push: not delivered, giving up") && logged.some((l) => l.msg === "push: not delivered"), "both to be given up");
    expect(service.received.filter((r) => r.path === new URL(busy.record.endpoint).pathname)).toHaveLength(3);
    expect(service.received.filter((r) => r.path === new URL(refused.record.endpoint).pathname)).toHaveLength(1);
    expect(outcomes.filter((o) => o === "webpush:failed")).toHaveLength(1);
    expect(subs.records).toEqual([busy.record, refused.record]);
  });

  test("close() cancels the trailing push", async () => {
    const { notifier, subscribe, clock, resting } = setup();
    const phone = subscribe("frank", "phone");
    const from = service.received.length;

    for (let i = 0; i < 3; i++) notifier.notify([phone.record.user], "c1");
    await service.waitFor(from + 1);
    await waitFor(resting);
    notifier.close();
    clock.advance(2 * MIN_INTERVAL_MS);
    expect(pushesTo(phone, from)).toEqual([{ type: "message", conv: "c1", count: 1 }]);
  });

  test("a failing store is logged, not thrown", async () => {
    const warnings: unknown[] = [];
    const notifier = new PushNotifier({
      metadata: {
        listPushSubscriptions: () => Promise.reject(new Error("db down")),
        deletePushSubscription: async () => {},
      },
      presence: new Presence(),
      provider,
      log: pino({ level: "warn" }, { write: (line: string) => void warnings.push(JSON.parse(line)) }),
      clock: new ManualClock(),
      minIntervalMs: MIN_INTERVAL_MS,
      ttlSec: 60,
    });
    notifiers.push(notifier);
    expect(() => notifier.notify(["ghost"], "c1")).not.toThrow();
    await waitFor(() => warnings.length > 0, 10_000, "the warning");
    expect(warnings).toHaveLength(1);
  });
});
