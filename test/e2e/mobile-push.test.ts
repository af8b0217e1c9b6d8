// Mobile push through the real server: devices register APNs and FCM tokens with PUSH_REGISTER;
// a user with no device online is pushed on each, through stand-in APNs and FCM services (HTTP/2
// over TLS on loopback), coalesced per device, without sender or text; a token the service calls
// gone is deleted; bad registrations are refused.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { resolveConfig } from "../../src/config/config.ts";
import { mobileRegistration, pushTag } from "../../src/push/mobile-token.ts";
import { ErrorCode, ProtocolError } from "../../src/sdk/index.ts";
import { HARNESS_START_MS, startHarness, until, type Harness } from "../helpers/harness.ts";
import { startFakeApns, startFakeFcm, type FakeApns, type FakeFcm } from "../push/mobile-services.ts";
import { forEachTopology } from "../helpers/topology.ts";

forEachTopology((topology) => {
  let h: Harness;
  let apns: FakeApns;
  let fcm: FakeFcm;
  let secrets: string;
  const MIN_INTERVAL_MS = 1000;

  beforeAll(async () => {
    [apns, fcm] = await Promise.all([startFakeApns(), startFakeFcm()]);
    secrets = mkdtempSync(join(tmpdir(), "msgr-mobile-push-"));
    const files = { key: join(secrets, "apns.p8"), sa: join(secrets, "fcm.json"), ca: join(secrets, "ca.pem") };
    writeFileSync(files.key, apns.keyPem, { mode: 0o600 });
    writeFileSync(files.sa, fcm.serviceAccount, { mode: 0o600 });
    writeFileSync(files.ca, apns.ca);
    h = await startHarness({
      push: {
        minIntervalMs: MIN_INTERVAL_MS,
        caFile: files.ca,
        apns: { keyFile: files.key, keyId: apns.keyId, teamId: apns.teamId, topic: apns.topic, url: apns.url },
        fcm: { serviceAccountFile: files.sa, url: fcm.url },
      },
    }, { topology });
  }, HARNESS_START_MS);
  afterAll(async () => {
    await h.stop();
    await Promise.all([apns.stop(), fcm.stop()]);
    rmSync(secrets, { recursive: true, force: true });
  });

  const codeOf = (p: Promise<unknown>) => p.then(() => 0, (e) => (e instanceof ProtocolError ? e.code : -1));
  const apnsToken = (n: number) => n.toString(16).padStart(64, "0");
  const fcmToken = (name: string) => `${name}:APA91b${"Q".repeat(140)}`;

  describe("mobile push", () => {
    test("an offline user's iPhone and Android devices are pushed through APNs and FCM, coalesced, without sender or text", async () => {
      const iphone = await h.client("m-off", "iphone");
      expect(await iphone.registerPush({ service: "apns", token: apnsToken(1).toUpperCase() })).toBe(`apns:${apnsToken(1)}`);
      iphone.close();
      const android = await h.client("m-off", "android");
      expect(await android.registerPush({ service: "fcm", token: fcmToken("android-1") })).toBe(`fcm:${fcmToken("android-1")}`);
      android.close();

      const sender = await h.client("m-sender");
      const conv = await sender.openDirect("m-off");
      await until(async () => (await (await h.stores()).presence.onlineDevices("m-off")).length === 0, 10_000, "m-off offline");
      const [a0, f0] = [apns.requests.length, fcm.sends.length];
      for (let i = 0; i < 5; i++) await sender.send(conv.id, `secret words ${i}`);

      // One push at once, then one trailing push for the rest: five messages, fewer pushes, every one counted.
      const apnsCount = () => apns.requests.slice(a0).reduce((n, r) => n + Number((r.body.msgr as { count: number }).count), 0);
      const fcmCount = () => fcm.sends.slice(f0).reduce((n, s) => n + Number(s.body.message.data!.count), 0);
      await until(() => apnsCount() === 5 && fcmCount() === 5);
      expect(apns.requests.length - a0).toBeLessThan(5);
      expect(fcm.sends.length - f0).toBeLessThan(5);
      expect(apns.refusals).toEqual([]);
      expect(fcm.refusals).toEqual([]);

      for (const r of apns.requests.slice(a0)) {
        expect(r.token).toBe(apnsToken(1));
        expect(r.headers["apns-collapse-id"]).toBe(pushTag(conv.id));
        const text = JSON.stringify(r.body);
        for (const secret of ["secret", "m-sender", conv.id]) expect(text).not.toContain(secret);
      }
      for (const s of fcm.sends.slice(f0)) {
        expect(s.body.message.token).toBe(fcmToken("android-1"));
        expect(s.body.message.notification).toBeUndefined();
        const text = JSON.stringify(s.body);
        for (const secret of ["secret", "m-sender", conv.id]) expect(text).not.toContain(secret);
      }
    });

    test("a device registering a new token replaces its old one; PUSH_UNSUBSCRIBE removes it", async () => {
      const c = await h.client("m-rotate", "iphone");
      await c.registerPush({ service: "apns", token: apnsToken(2) });
      await c.registerPush({ service: "fcm", token: fcmToken("rotate") });
      const fresh = await c.registerPush({ service: "apns", token: apnsToken(3) });
      const endpoints = async () => (await (await h.stores()).metadata.listPushSubscriptions("m-rotate")).map((s) => s.endpoint).sort();
      expect(await endpoints()).toEqual([fresh, `fcm:${fcmToken("rotate")}`].sort());
      await c.unsubscribePush(fresh);
      expect(await endpoints()).toEqual([`fcm:${fcmToken("rotate")}`]);
    });

    test("a token APNs calls Unregistered, and one FCM calls UNREGISTERED, are deleted", async () => {
      const iphone = await h.client("m-gone", "iphone");
      await iphone.registerPush({ service: "apns", token: apnsToken(4) });
      iphone.close();
      const android = await h.client("m-gone", "android");
      await android.registerPush({ service: "fcm", token: fcmToken("gone") });
      android.close();
      apns.script.set(apnsToken(4), [{ status: 410, reason: "Unregistered" }]);
      fcm.script.set(fcmToken("gone"), [{ status: 404, body: { error: { code: 404, status: "NOT_FOUND", details: [{ errorCode: "UNREGISTERED" }] } } }]);

      const sender = await h.client("m-gone-sender");
      const conv = await sender.openDirect("m-gone");
      await until(async () => (await (await h.stores()).presence.onlineDevices("m-gone")).length === 0, 10_000, "m-gone offline");
      await sender.send(conv.id, "anyone?");
      let left = ["?"];
      await until(async () => {
        left = (await (await h.stores()).metadata.listPushSubscriptions("m-gone")).map((s) => s.endpoint);
        return left.length === 0;
      });
      expect(left).toEqual([]);
    });

    test("malformed tokens and unknown services are refused with 1003, and nothing is stored", async () => {
      const c = await h.client("m-bad");
      for (const params of [
        { service: "apns", token: "not-hex-".repeat(8) },
        { service: "apns", token: "ab".repeat(16) },
        { service: "fcm", token: "short" },
        { service: "gcm", token: fcmToken("x") },
        { service: "fcm", token: `${fcmToken("x")} <script>` },
      ]) {
        expect(await codeOf(c.registerPush(params as { service: "apns"; token: string }))).toBe(ErrorCode.InvalidParams);
      }
      expect(await (await h.stores()).metadata.listPushSubscriptions("m-bad")).toEqual([]);
    });

    test("a service this server has no credentials for is refused, saying so", () => {
      const bare = resolveConfig({}, {});
      expect(mobileRegistration(bare, "apns", apnsToken(5))).toEqual({ ok: false, reason: "service: APNs is not configured on this server" });
      expect(mobileRegistration(bare, "fcm", fcmToken("y"))).toEqual({ ok: false, reason: "service: FCM is not configured on this server" });
    });
  });
});
