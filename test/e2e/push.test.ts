// Web Push through the real server: a user with no device online gets an encrypted push on every
// subscribed device, naming no sender and no text; nobody is pushed while a device is online; a
// subscription the push service calls gone is deleted; unsafe endpoints are refused.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ErrorCode, ProtocolError } from "../../src/sdk/index.ts";
import { HARNESS_START_MS, startHarness, until, type Harness } from "../helpers/harness.ts";
import { forEachTopology } from "../helpers/topology.ts";
import { decryptPush, makeSubscriber, startPushService, type PushService } from "../push/push-service.ts";

forEachTopology((topology) => {
  let h: Harness;
  let service: PushService;
  beforeAll(async () => {
    service = startPushService();
    h = await startHarness({ push: { testAllowlist: [service.origin], minIntervalMs: 200 } }, { topology });
  }, HARNESS_START_MS);
  afterAll(async () => {
    await h.stop();
    service.stop();
  });

  /** Until no device of `user` is online anywhere: what the notifier asks before it pushes. */
  const offline = (user: string) => until(async () => (await (await h.stores()).presence.onlineDevices(user)).length === 0, 10_000, `${user} offline`);

  const codeOf = (p: Promise<unknown>) => p.then(() => 0, (e) => (e instanceof ProtocolError ? e.code : -1));

  describe("push", () => {
    test("offline user: each subscribed device gets an encrypted push without sender or text; none while online", async () => {
      const phone = makeSubscriber(service.origin, "p-off", "phone");
      const tablet = makeSubscriber(service.origin, "p-off", "tablet");
      for (const s of [phone, tablet]) {
        const c = await h.client("p-off", s.record.device);
        await c.subscribePush({ endpoint: s.record.endpoint, p256dh: s.record.p256dh, auth: s.record.auth });
        c.close();
      }
      const sender = await h.client("p-sender");
      const conv = await sender.openDirect("p-off");
      await offline("p-off");
      const before = service.received.length;
      await sender.send(conv.id, "secret words");
      await service.waitFor(before + 2);
      const pushes = service.received.slice(before);
      expect(pushes.map((p) => p.path).sort()).toEqual(["/push/p-off/phone", "/push/p-off/tablet"]);
      for (const p of pushes) {
        const sub = p.path.endsWith("phone") ? phone : tablet;
        const payload = JSON.parse(decryptPush(sub, p.body));
        expect(payload).toEqual({ type: "message", conv: conv.id, count: 1 });
        expect(JSON.stringify(payload)).not.toContain("secret");
        expect(JSON.stringify(payload)).not.toContain("p-sender");
        expect(p.headers.get("ttl")).toBe(String(h.config.push.ttlSec));
        expect(p.headers.get("topic")).toBeTruthy();
        expect(p.headers.get("authorization")).toStartWith("vapid t=");
      }

      // Online again: no push. Shown without waiting for a push that must not come: the user goes
      // offline again and a message in another conversation is pushed; had the message sent while
      // online been pushed, it would come first (or be counted in the later push).
      const back = await h.client("p-off", "phone");
      const count = service.received.length;
      await sender.send(conv.id, "you are online");
      back.close();
      await offline("p-off");
      const sender2 = await h.client("p-sender-2");
      const other = await sender2.openDirect("p-off");
      await sender2.send(other.id, "and now offline");
      await service.waitFor(count + 2);
      const later = service.received.slice(count).map((p) => JSON.parse(decryptPush(p.path.endsWith("phone") ? phone : tablet, p.body)));
      expect(later).toEqual([
        { type: "message", conv: other.id, count: 1 },
        { type: "message", conv: other.id, count: 1 },
      ]);
    });

    test("a subscription answered 410 is deleted", async () => {
      const gone = makeSubscriber(service.origin, "p-gone", "old");
      service.statusFor.set(new URL(gone.record.endpoint).pathname, 410);
      const c = await h.client("p-gone", "old");
      await c.subscribePush({ endpoint: gone.record.endpoint, p256dh: gone.record.p256dh, auth: gone.record.auth });
      c.close();
      const sender = await h.client("p-gone-sender");
      const conv = await sender.openDirect("p-gone");
      await offline("p-gone");
      await sender.send(conv.id, "anyone?");
      await until(() => service.received.some((p) => p.path === "/push/p-gone/old"));
      // The deletion follows the 410 answer asynchronously.
      await until(async () => (await (await h.stores()).metadata.listPushSubscriptions("p-gone")).length === 0, 10_000, "the subscription to be deleted");
    });

    test("loopback, private and plain-http endpoints, and malformed keys, are refused at subscription", async () => {
      const c = await h.client("p-bad");
      const s = makeSubscriber("https://push.example.com", "p-bad", "d");
      const sub = (endpoint: string) => c.subscribePush({ endpoint, p256dh: s.record.p256dh, auth: s.record.auth });
      for (const endpoint of ["https://127.0.0.1/push", "https://10.1.2.3/push", "https://[::1]/push", "http://push.example.com/x", "https://169.254.169.254/latest"]) {
        expect(await codeOf(sub(endpoint))).toBe(ErrorCode.InvalidParams);
      }
      expect(await codeOf(c.subscribePush({ endpoint: `${service.origin}/push/x`, p256dh: "AAAA", auth: s.record.auth }))).toBe(ErrorCode.InvalidParams);
      expect(await (await h.stores()).metadata.listPushSubscriptions("p-bad")).toEqual([]);
    });
  });
});
