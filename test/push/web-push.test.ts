// WebPushProvider against a real HTTP push service on loopback: the body is decrypted here the way
// a browser would, so a wrong key derivation or a leaked sender would show.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { generateVAPIDKeys } from "web-push";
import type { PushNotification } from "../../src/push/provider.ts";
import { WebPushProvider, webPushTopic } from "../../src/push/web-push-provider.ts";
import { decryptPush, makeSubscriber, startPushService, type PushService } from "./push-service.ts";

const vapid = { ...generateVAPIDKeys(), subject: "mailto:ops@example.com" };
const note: PushNotification = {
  payload: { type: "message", conv: "c-42", count: 3 },
  ttlSec: 600,
  urgency: "high",
  topic: "c-42",
};

let service: PushService;
let provider: WebPushProvider;

beforeAll(() => {
  service = startPushService();
  provider = new WebPushProvider({ vapid, timeoutMs: 2000, endpointAllowlist: [service.origin] });
});
afterAll(() => service.stop());

describe("WebPushProvider", () => {
  test("sends an RFC 8291 encrypted payload with TTL, Urgency, Topic and VAPID headers", async () => {
    const sub = makeSubscriber(service.origin, "alice", "phone");
    const before = service.received.length;

    expect(await provider.send(sub.record, note)).toEqual({ kind: "sent" });

    const push = service.received[before]!;
    expect(push.path).toBe("/push/alice/phone");
    expect(push.headers.get("content-encoding")).toBe("aes128gcm");
    expect(push.headers.get("ttl")).toBe("600");
    expect(push.headers.get("urgency")).toBe("high");
    const topic = push.headers.get("topic")!;
    expect(topic).toBe(webPushTopic("c-42"));
    expect(topic).toMatch(/^[A-Za-z0-9_-]{1,32}$/);
    expect(topic).not.toContain("c-42");
    const auth = push.headers.get("authorization")!;
    expect(auth).toMatch(/^vapid t=[\w-]+\.[\w-]+\.[\w-]+, k=[\w-]+$/);
    expect(auth.slice(auth.indexOf("k=") + 2)).toBe(vapid.publicKey);

    expect(JSON.parse(decryptPush(sub, push.body))).toEqual({ type: "message", conv: "c-42", count: 3 });
  });

  test("the VAPID token is addressed to the push service's origin", async () => {
    const sub = makeSubscriber(service.origin, "alice", "laptop");
    const before = service.received.length;
    await provider.send(sub.record, note);
    const auth = service.received[before]!.headers.get("authorization")!;
    const jwt = /t=([^,]+)/.exec(auth)![1]!;
    const claims = JSON.parse(Buffer.from(jwt.split(".")[1]!, "base64url").toString()) as Record<string, unknown>;
    expect(claims.aud).toBe(service.origin);
    expect(claims.sub).toBe(vapid.subject);
    expect(claims.exp).toBeGreaterThan(Date.now() / 1000);
  });

  test("410 and 404 mean the subscription is gone", async () => {
    for (const status of [410, 404]) {
      const sub = makeSubscriber(service.origin, "bob", `gone-${status}`);
      service.statusFor.set(new URL(sub.record.endpoint).pathname, status);
      expect(await provider.send(sub.record, note)).toEqual({ kind: "gone" });
    }
  });

  test("429 and 5xx are retried later, the subscription kept", async () => {
    for (const status of [500, 503, 429]) {
      const sub = makeSubscriber(service.origin, "bob", `busy-${status}`);
      service.statusFor.set(new URL(sub.record.endpoint).pathname, status);
      expect(await provider.send(sub.record, note)).toEqual({ kind: "retry", error: `push service answered ${status}` });
    }
  });

  test("Retry-After is passed on; 400 and 403 (our VAPID keys) fail without a retry", async () => {
    const busy = makeSubscriber(service.origin, "bob", "retry-after");
    service.statusFor.set(new URL(busy.record.endpoint).pathname, 429);
    service.retryAfterFor.set(new URL(busy.record.endpoint).pathname, "7");
    expect(await provider.send(busy.record, note)).toEqual({ kind: "retry", error: "push service answered 429", retryAfterMs: 7000 });
    for (const status of [400, 403]) {
      const sub = makeSubscriber(service.origin, "bob", `refused-${status}`);
      service.statusFor.set(new URL(sub.record.endpoint).pathname, status);
      expect(await provider.send(sub.record, note)).toEqual({ kind: "failed", error: `push service answered ${status}` });
    }
  });

  test("a redirect is not followed, and fails without deleting the subscription", async () => {
    const sub = makeSubscriber(service.origin, "bob", "moved");
    service.statusFor.set(new URL(sub.record.endpoint).pathname, 307);
    const before = service.received.length;
    // send() settles after the one request it made: a followed redirect would be a second one before that.
    expect((await provider.send(sub.record, note)).kind).toBe("failed");
    expect(service.received.slice(before).map((r) => r.path)).toEqual(["/push/bob/moved"]);
  });

  test("an unreachable push service is a retry", async () => {
    const gone = startPushService();
    gone.stop();
    const down = new WebPushProvider({ vapid, timeoutMs: 2000, endpointAllowlist: [gone.origin] });
    const outcome = await down.send(makeSubscriber(gone.origin, "carol", "phone").record, note);
    expect(outcome.kind).toBe("retry");
  });

  test("a push service slower than the timeout is a retry", async () => {
    const slow = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => Bun.sleep(2000).then(() => new Response(null, { status: 201 })) });
    try {
      const origin = `http://127.0.0.1:${slow.port}`;
      const impatient = new WebPushProvider({ vapid, timeoutMs: 200, endpointAllowlist: [origin] });
      const sub = makeSubscriber(origin, "carol", "laptop");
      const started = Date.now();
      expect((await impatient.send(sub.record, note)).kind).toBe("retry");
      expect(Date.now() - started).toBeLessThan(1500);
    } finally {
      void slow.stop(true);
    }
  });

  test("an endpoint outside the policy is not contacted", async () => {
    const strict = new WebPushProvider({ vapid, timeoutMs: 2000 });
    const before = service.received.length;
    const outcome = await strict.send(makeSubscriber(service.origin, "dave", "phone").record, note);
    expect(outcome.kind).toBe("failed");
    expect(outcome.kind === "failed" && outcome.error).toContain("endpoint refused");
    expect(service.received.length).toBe(before);
  });
});
