// ApnsProvider against a stand-in APNs: an HTTP/2 TLS server on loopback that checks the provider
// token (ES256 signature, kid, iss, iat), the headers APNs requires, and the payload's privacy.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ApnsProvider, loadApnsKey } from "../../src/push/apns-provider.ts";
import { Http2Client } from "../../src/push/http2-client.ts";
import { pushTag } from "../../src/push/mobile-token.ts";
import type { PushNotification } from "../../src/push/provider.ts";
import type { PushSubscriptionRecord } from "../../src/storage/types.ts";
import { startFakeApns, type FakeApns } from "./mobile-services.ts";

let apns: FakeApns;
beforeAll(async () => {
  apns = await startFakeApns();
});
afterAll(() => apns.stop());

async function provider(now?: () => number): Promise<ApnsProvider> {
  return new ApnsProvider({
    key: await loadApnsKey(apns.keyPem),
    keyId: apns.keyId,
    teamId: apns.teamId,
    topic: apns.topic,
    url: apns.url,
    http: new Http2Client({ ca: apns.ca }),
    timeoutMs: 5000,
    now,
  });
}

let tokens = 0;
function device(): PushSubscriptionRecord {
  const token = (++tokens).toString(16).padStart(64, "a");
  return { user: "ann", device: `phone-${tokens}`, endpoint: `apns:${token}`, p256dh: "", auth: "", createdAt: 0 };
}
const token = (sub: PushSubscriptionRecord) => sub.endpoint.slice(5);
const note: PushNotification = { payload: { type: "message", conv: "c-secret-conv", count: 3 }, ttlSec: 600, urgency: "normal", topic: "c-secret-conv" };

describe("ApnsProvider", () => {
  test("posts over HTTP/2 with a valid ES256 provider token, the APNs headers, and a payload naming no sender, text or conversation", async () => {
    const p = await provider();
    const sub = device();
    const before = Math.floor(Date.now() / 1000);
    expect(await p.send(sub, note)).toEqual({ kind: "sent" });
    p.close();
    expect(apns.refusals).toEqual([]);
    const req = apns.requests.at(-1)!;
    expect(req.alpn).toBe("h2");
    expect(req.token).toBe(token(sub));
    expect(req.jwt.header).toEqual({ alg: "ES256", kid: apns.keyId });
    expect(req.jwt.claims.iss).toBe(apns.teamId);
    expect(req.headers["apns-topic"]).toBe(apns.topic);
    expect(req.headers["apns-push-type"]).toBe("alert");
    expect(req.headers["apns-priority"]).toBe("10");
    const expiration = Number(req.headers["apns-expiration"]);
    expect(expiration).toBeGreaterThanOrEqual(before + 600);
    expect(expiration).toBeLessThanOrEqual(Math.floor(Date.now() / 1000) + 600);
    expect(req.headers["apns-collapse-id"]).toBe(pushTag("c-secret-conv"));
    expect(req.body).toEqual({
      aps: { alert: { "loc-key": "MSGR_NEW_MESSAGE", "loc-args": ["3"] }, sound: "default", "mutable-content": 1, "thread-id": pushTag("c-secret-conv") },
      msgr: { type: "message", tag: pushTag("c-secret-conv"), count: 3 },
    });
    expect(JSON.stringify(req.body)).not.toContain("c-secret-conv");
  });

  test("one connection and one provider token serve many pushes; the token is renewed after 50 minutes", async () => {
    let now = Date.now();
    const p = await provider(() => now);
    const connections = apns.connections();
    const from = apns.requests.length;
    await Promise.all([device(), device(), device()].map((s) => p.send(s, note)));
    const first = apns.requests.slice(from).map((r) => r.jwt.raw);
    expect(new Set(first).size).toBe(1);
    expect(apns.connections()).toBe(connections + 1);

    now += 49 * 60_000;
    await p.send(device(), note);
    expect(apns.requests.at(-1)!.jwt.raw).toBe(first[0]!);
    now += 2 * 60_000;
    // (The stand-in accepts an iat within an hour of its own clock; 51 minutes ahead still is.)
    await p.send(device(), note);
    expect(apns.requests.at(-1)!.jwt.raw).not.toBe(first[0]!);
    expect(apns.connections()).toBe(connections + 1);
    p.close();
  });

  test("Unregistered (410), BadDeviceToken and ExpiredToken mean the token is gone", async () => {
    const p = await provider();
    for (const [status, reason] of [[410, "Unregistered"], [400, "BadDeviceToken"], [410, "ExpiredToken"]] as const) {
      const sub = device();
      apns.script.set(token(sub), [{ status, reason }]);
      expect(await p.send(sub, note)).toEqual({ kind: "gone" });
    }
    p.close();
  });

  test("429 and 5xx are retried; a refused provider token is renewed for the retry; our own misconfiguration fails", async () => {
    const p = await provider();
    for (const [status, reason] of [[429, "TooManyRequests"], [500, "InternalServerError"], [503, "ServiceUnavailable"]] as const) {
      const sub = device();
      apns.script.set(token(sub), [{ status, reason }]);
      expect(await p.send(sub, note)).toEqual({ kind: "retry", error: `APNs answered ${status} ${reason}` });
    }

    const sub = device();
    apns.script.set(token(sub), [{ status: 403, reason: "ExpiredProviderToken" }]);
    expect((await p.send(sub, note)).kind).toBe("retry");
    const refused = apns.requests.at(-1)!.jwt.raw;
    expect(await p.send(sub, note)).toEqual({ kind: "sent" });
    expect(apns.requests.at(-1)!.jwt.raw).not.toBe(refused);

    for (const reason of ["DeviceTokenNotForTopic", "BadTopic", "PayloadTooLarge"]) {
      const other = device();
      apns.script.set(token(other), [{ status: reason === "PayloadTooLarge" ? 413 : 400, reason }]);
      expect((await p.send(other, note)).kind).toBe("failed");
    }
    p.close();
  });

  test("an APNs that cannot be reached is a retry", async () => {
    const down = await startFakeApns();
    await down.stop();
    const p = new ApnsProvider({
      key: await loadApnsKey(down.keyPem),
      keyId: down.keyId,
      teamId: down.teamId,
      topic: down.topic,
      url: down.url,
      http: new Http2Client({ ca: down.ca }),
      timeoutMs: 2000,
    });
    const outcome = await p.send(device(), note);
    expect(outcome.kind).toBe("retry");
    p.close();
  });

  test("a server whose certificate is not trusted is not spoken to", async () => {
    const p = new ApnsProvider({
      key: await loadApnsKey(apns.keyPem),
      keyId: apns.keyId,
      teamId: apns.teamId,
      topic: apns.topic,
      url: apns.url,
      http: new Http2Client(),
      timeoutMs: 2000,
    });
    const from = apns.requests.length;
    expect((await p.send(device(), note)).kind).toBe("retry");
    expect(apns.requests.length).toBe(from);
    p.close();
  });
});
