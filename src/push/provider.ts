// Push notifications for users with no device online. A provider delivers one notification to
// one subscription: Web Push (VAPID, RFC 8291) for browsers, APNs and FCM for phones. A router
// (router.ts) picks the provider by the subscription's endpoint.

import type { PushSubscriptionRecord } from "../storage/types.ts";

/** What a push says. By design it names no sender and no text: the app fetches the content itself. */
export interface PushPayload {
  type: "message";
  conv: string;
  /** How many messages this push stands for (pushes coalesce per device). */
  count: number;
}

export interface PushNotification {
  payload: PushPayload;
  /** Seconds the push service keeps it for an offline device. */
  ttlSec: number;
  urgency: "very-low" | "low" | "normal" | "high";
  /** Pushes with the same topic replace each other at the push service (one per conversation). */
  topic: string;
}

export type PushOutcome =
  | { kind: "sent" }
  /** The subscription or token is gone (expired, unregistered, invalid): delete it. */
  | { kind: "gone" }
  /** The service is busy or unreachable (429, 5xx, a network error): try again after a backoff, at least `retryAfterMs` when it said so. */
  | { kind: "retry"; error: string; retryAfterMs?: number }
  /** Refused for a reason on our side (credentials, configuration): retrying the same push would fail the same way, and the subscription is kept. */
  | { kind: "failed"; error: string };

export interface PushProvider {
  send(sub: PushSubscriptionRecord, n: PushNotification): Promise<PushOutcome>;
  /** Releases connections; sends after it may fail. */
  close?(): void;
}

/** Milliseconds a Retry-After header asks for (seconds or an HTTP date), or undefined. */
export function retryAfterMs(value: string | null | undefined, nowMs = Date.now()): number | undefined {
  if (!value) return undefined;
  const secs = Number(value);
  if (Number.isFinite(secs) && secs >= 0) return secs * 1000;
  const at = Date.parse(value);
  return Number.isFinite(at) ? Math.max(0, at - nowMs) : undefined;
}
