// Apple Push Notification service, token-based: each request carries a JWT (ES256) signed with
// the team's .p8 key, over HTTP/2 (the only protocol APNs speaks).
//
// The push is an alert whose text is a localization key the app ships ("MSGR_NEW_MESSAGE", with
// the count as its argument), so neither the sender nor the text reaches Apple; mutable-content
// lets the app's notification service extension fetch the message and show more, should it want.

import { importPKCS8, SignJWT, type CryptoKey } from "jose";
import type { PushSubscriptionRecord } from "../storage/types.ts";
import type { Http2Client } from "./http2-client.ts";
import { pushTag, serviceOf } from "./mobile-token.ts";
import type { PushNotification, PushOutcome, PushProvider } from "./provider.ts";

export interface ApnsOptions {
  /** The team's signing key (see loadApnsKey). */
  key: CryptoKey;
  keyId: string;
  teamId: string;
  /** The app's bundle id. */
  topic: string;
  /** https://api.push.apple.com or https://api.sandbox.push.apple.com */
  url: string;
  http: Http2Client;
  timeoutMs: number;
  now?: () => number;
}

/**
 * Apple refuses a provider token older than an hour, and one renewed more often than every 20
 * minutes (TooManyProviderTokenUpdates): each is kept for 50 minutes.
 */
const TOKEN_LIFETIME_MS = 50 * 60_000;

/** Reasons (in the JSON body) that mean the token will never work again. */
const GONE_REASONS = new Set(["BadDeviceToken", "Unregistered", "ExpiredToken"]);
/** Reasons that mean our provider token must be renewed; the push itself may be retried. */
const TOKEN_REASONS = new Set(["ExpiredProviderToken", "InvalidProviderToken", "MissingProviderToken"]);

/** Reads a .p8 key file's contents (PKCS#8 PEM, P-256); throws when it is not one. */
export function loadApnsKey(pem: string): Promise<CryptoKey> {
  return importPKCS8(pem, "ES256");
}

export class ApnsProvider implements PushProvider {
  /** Shared by concurrent sends, so one renewal signs one token. */
  private jwt: { value: Promise<string>; until: number } | undefined;
  private readonly now: () => number;

  constructor(private readonly opts: ApnsOptions) {
    this.now = opts.now ?? Date.now;
  }

  async send(sub: PushSubscriptionRecord, n: PushNotification): Promise<PushOutcome> {
    const { token } = serviceOf(sub.endpoint);
    const auth = await this.providerToken();
    const tag = pushTag(n.payload.conv);
    const body = JSON.stringify({
      aps: {
        alert: { "loc-key": "MSGR_NEW_MESSAGE", "loc-args": [String(n.payload.count)] },
        sound: "default",
        "mutable-content": 1,
        "thread-id": tag,
      },
      msgr: { type: n.payload.type, tag, count: n.payload.count },
    });
    let res;
    try {
      res = await this.opts.http.request(`${this.opts.url}/3/device/${token}`, {
        method: "POST",
        headers: {
          authorization: `bearer ${auth}`,
          "apns-topic": this.opts.topic,
          "apns-push-type": "alert",
          // 10: deliver now; 5: when convenient for the device's power.
          "apns-priority": n.urgency === "high" || n.urgency === "normal" ? "10" : "5",
          "apns-expiration": String(Math.floor(this.now() / 1000) + n.ttlSec),
          // A newer push for the conversation replaces one not yet shown.
          "apns-collapse-id": tag,
          "content-type": "application/json",
        },
        body,
        timeoutMs: this.opts.timeoutMs,
      });
    } catch (err) {
      return { kind: "retry", error: `APNs request failed: ${(err as Error).message}` };
    }
    return this.outcomeOf(res.status, res.body);
  }

  close(): void {
    this.opts.http.close();
  }

  private outcomeOf(status: number, body: string): PushOutcome {
    if (status === 200) return { kind: "sent" };
    let reason = "";
    try {
      reason = String((JSON.parse(body) as { reason?: unknown }).reason ?? "");
    } catch {
      // Not JSON: the status alone decides.
    }
    const error = `APNs answered ${status}${reason ? ` ${reason}` : ""}`;
    if (status === 410 || GONE_REASONS.has(reason)) return { kind: "gone" };
    if (status === 403 && TOKEN_REASONS.has(reason)) {
      // Sign a fresh one for the next attempt.
      this.jwt = undefined;
      return { kind: "retry", error };
    }
    if (status === 429 || status >= 500) return { kind: "retry", error };
    // DeviceTokenNotForTopic, BadTopic, PayloadTooLarge...: our configuration, not the device.
    return { kind: "failed", error };
  }

  private providerToken(): Promise<string> {
    const now = this.now();
    if (this.jwt && this.jwt.until > now) return this.jwt.value;
    const value = new SignJWT({})
      .setProtectedHeader({ alg: "ES256", kid: this.opts.keyId })
      .setIssuer(this.opts.teamId)
      .setIssuedAt(Math.floor(now / 1000))
      .sign(this.opts.key);
    this.jwt = { value, until: now + TOKEN_LIFETIME_MS };
    return value;
  }
}
