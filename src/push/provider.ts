// Push notifications for users with no device online. A provider delivers one notification to
// one subscription; Web Push (VAPID, RFC 8291) is built in, and APNs or FCM fit the same shape.

import type { PushSubscriptionRecord } from "../storage/types.ts";

export interface PushNotification {
  /** JSON payload the service worker receives. By default it names no sender and no text. */
  payload: Record<string, unknown>;
  /** Seconds the push service keeps it for an offline device. */
  ttlSec: number;
  urgency: "very-low" | "low" | "normal" | "high";
  /** Pushes with the same topic replace each other at the push service (one per conversation). */
  topic: string;
}

export type PushOutcome =
  | { kind: "sent" }
  /** The subscription is gone (404/410): delete it. */
  | { kind: "gone" }
  /** Try later; the service said so or failed. */
  | { kind: "retry"; error: string };

export interface PushProvider {
  send(sub: PushSubscriptionRecord, n: PushNotification): Promise<PushOutcome>;
}
