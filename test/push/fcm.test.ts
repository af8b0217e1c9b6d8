// FcmProvider against a stand-in FCM: an HTTP/2 TLS server on loopback that plays both Google's
// OAuth token endpoint (it verifies the service account's RS256 assertion and its claims) and the
// FCM v1 send endpoint (it accepts only access tokens it issued).

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { FcmProvider, loadServiceAccount } from "../../src/push/fcm-provider.ts";
import { Http2Client } from "../../src/push/http2-client.ts";
import { pushTag } from "../../src/push/mobile-token.ts";
import type { PushNotification } from "../../src/push/provider.ts";
import type { PushSubscriptionRecord } from "../../src/storage/types.ts";
import { fcmErrors, startFakeFcm, type FakeFcm } from "./mobile-services.ts";

let fcm: FakeFcm;
beforeAll(async () => {
  fcm = await startFakeFcm();
});
afterAll(() => fcm.stop());

async function provider(now?: () => number): Promise<FcmProvider> {
  const { account, key } = await loadServiceAccount(fcm.serviceAccount, "test");
  return new FcmProvider({ account, key, url: fcm.url, http: new Http2Client({ ca: fcm.ca }), timeoutMs: 5000, now });
}

let tokens = 0;
function device(): PushSubscriptionRecord {
  const token = `fcm-token-${++tokens}:APA91b${"x".repeat(140)}`;
  return { user: "bea", device: `android-${tokens}`, endpoint: `fcm:${token}`, p256dh: "", auth: "", createdAt: 0 };
}
const token = (sub: PushSubscriptionRecord) => sub.endpoint.slice(4);
const note: PushNotification = { payload: { type: "message", conv: "c-private", count: 2 }, ttlSec: 900, urgency: "normal", topic: "c-private" };

describe("FcmProvider", () => {
  test("exchanges a signed service-account assertion for an access token, then sends a data-only message with it", async () => {
    const p = await provider();
    const exchanges = fcm.exchanges.length;
    const sub = device();
    expect(await p.send(sub, note)).toEqual({ kind: "sent" });
    p.close();
    expect(fcm.refusals).toEqual([]);

    const ex = fcm.exchanges.slice(exchanges);
    expect(ex).toHaveLength(1);
    expect(ex[0]!.header).toEqual({ alg: "RS256", typ: "JWT", kid: "k1" });
    expect(ex[0]!.claims).toMatchObject({ iss: fcm.clientEmail, aud: `${fcm.url}/token`, scope: "https://www.googleapis.com/auth/firebase.messaging" });
    expect((ex[0]!.claims.exp as number) - (ex[0]!.claims.iat as number)).toBe(3600);

    const sent = fcm.sends.at(-1)!;
    expect(sent.alpn).toBe("h2");
    expect(sent.path).toBe(`/v1/projects/${fcm.projectId}/messages:send`);
    expect(sent.headers["content-type"]).toBe("application/json");
    expect(sent.body).toEqual({
      message: {
        token: token(sub),
        data: { type: "message", tag: pushTag("c-private"), count: "2" },
        android: { priority: "HIGH", ttl: "900s", collapse_key: pushTag("c-private") },
      },
    });
    expect(JSON.stringify(sent.body)).not.toContain("c-private");
  });

  test("the access token is cached until shortly before it expires, and concurrent sends share one exchange", async () => {
    let now = Date.now();
    fcm.expiresIn = 600;
    const p = await provider(() => now);
    const exchanges = fcm.exchanges.length;
    await Promise.all([device(), device(), device()].map((s) => p.send(s, note)));
    expect(fcm.exchanges.length).toBe(exchanges + 1);
    now += 8 * 60_000;
    await p.send(device(), note);
    expect(fcm.exchanges.length).toBe(exchanges + 1);
    // Within a minute of expiry: renewed.
    now += 90_000;
    await p.send(device(), note);
    expect(fcm.exchanges.length).toBe(exchanges + 2);
    expect(fcm.refusals).toEqual([]);
    fcm.expiresIn = 3599;
    p.close();
  });

  test("an access token the service no longer accepts (401) is exchanged again for the retry", async () => {
    const p = await provider();
    await p.send(device(), note);
    const exchanges = fcm.exchanges.length;
    fcm.revokeAccessTokens();
    const sub = device();
    expect((await p.send(sub, note)).kind).toBe("retry");
    expect(await p.send(sub, note)).toEqual({ kind: "sent" });
    expect(fcm.exchanges.length).toBe(exchanges + 1);
    p.close();
  });

  test("UNREGISTERED and an invalid token are gone; 429 and 503 are retried (with Retry-After); SENDER_ID_MISMATCH and a bad payload fail", async () => {
    const p = await provider();
    const answer = async (status: number, body: unknown, retryAfter?: string) => {
      const sub = device();
      fcm.script.set(token(sub), [{ status, body, retryAfter }]);
      return p.send(sub, note);
    };
    expect(await answer(404, fcmErrors.unregistered)).toEqual({ kind: "gone" });
    expect(await answer(400, fcmErrors.invalidToken)).toEqual({ kind: "gone" });
    expect(await answer(429, fcmErrors.quota, "30")).toMatchObject({ kind: "retry", retryAfterMs: 30_000 });
    expect(await answer(503, fcmErrors.unavailable)).toMatchObject({ kind: "retry" });
    expect(await answer(403, fcmErrors.senderMismatch)).toMatchObject({ kind: "failed", error: expect.stringContaining("SENDER_ID_MISMATCH") });
    expect(await answer(400, fcmErrors.invalidPayload)).toMatchObject({ kind: "failed" });
    p.close();
  });

  test("a failing token exchange is a retry, and is not cached", async () => {
    const { account, key } = await loadServiceAccount(fcm.serviceAccount, "test");
    const wrong = new FcmProvider({ account: { ...account, client_email: "someone-else@example.com" }, key, url: fcm.url, http: new Http2Client({ ca: fcm.ca }), timeoutMs: 5000 });
    const refusals = fcm.refusals.length;
    expect((await wrong.send(device(), note)).kind).toBe("retry");
    expect((await wrong.send(device(), note)).kind).toBe("retry");
    expect(fcm.refusals.slice(refusals).every((r) => r.startsWith("token: invalid_grant"))).toBe(true);
    expect(fcm.refusals.length).toBe(refusals + 2);
    wrong.close();
  });

  test("a service account file missing its key is refused when loaded", async () => {
    const doc = JSON.parse(fcm.serviceAccount);
    delete doc.private_key;
    await expect(loadServiceAccount(JSON.stringify(doc), "sa.json")).rejects.toThrow("sa.json: private_key missing");
    await expect(loadServiceAccount("{", "sa.json")).rejects.toThrow("sa.json: not JSON");
  });
});
