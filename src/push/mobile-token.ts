// Mobile push tokens (APNs device tokens, FCM registration tokens) are stored as push
// subscriptions whose endpoint is "<service>:<token>": the endpoint identifies where a push goes,
// so the notifier's per-device lanes, the stores and PUSH_UNSUBSCRIBE work unchanged. Web Push
// endpoints are https URLs, so the two never collide.

import { createHash } from "node:crypto";
import type { Config } from "../config/config.ts";
import type { MetadataStore } from "../storage/types.ts";

export type MobileService = "apns" | "fcm";
export type PushService = MobileService | "webpush";

/** APNs device tokens are hex (32 bytes today; Apple says the length may change). */
const APNS_TOKEN = /^[0-9a-f]{64,200}$/;
/** FCM registration tokens: base64url-like with ':' separators, about 160 characters today. */
const FCM_TOKEN = /^[A-Za-z0-9_:.-]{32,4096}$/;

export type Registration = { ok: true; endpoint: string } | { ok: false; reason: string };

/** Checks a token a device registers, and whether this server can push to it. */
export function mobileRegistration(config: Config, service: string, token: string): Registration {
  if (service === "apns") {
    const t = token.toLowerCase();
    if (!APNS_TOKEN.test(t)) return { ok: false, reason: "token: an APNs device token is 64 to 200 hex digits" };
    if (!config.push.apns.keyFile) return { ok: false, reason: "service: APNs is not configured on this server" };
    return { ok: true, endpoint: `apns:${t}` };
  }
  if (service === "fcm") {
    if (!FCM_TOKEN.test(token)) return { ok: false, reason: "token: not an FCM registration token" };
    if (!config.push.fcm.serviceAccountFile) return { ok: false, reason: "service: FCM is not configured on this server" };
    return { ok: true, endpoint: `fcm:${token}` };
  }
  return { ok: false, reason: 'service: expected "apns" or "fcm"' };
}

/** The service a subscription's endpoint belongs to, and the token for mobile ones. */
export function serviceOf(endpoint: string): { service: PushService; token: string } {
  if (endpoint.startsWith("apns:")) return { service: "apns", token: endpoint.slice(5) };
  if (endpoint.startsWith("fcm:")) return { service: "fcm", token: endpoint.slice(4) };
  return { service: "webpush", token: "" };
}

/**
 * Saves a device's token. A device holds one token per service: apps are told to register again
 * whenever the OS hands them a new token, and the old one would otherwise be pushed to until the
 * service calls it gone.
 */
export async function saveMobileToken(
  metadata: Pick<MetadataStore, "savePushSubscription" | "listPushSubscriptions" | "deletePushSubscription">,
  user: string,
  device: string,
  endpoint: string,
  nowMs: number,
): Promise<void> {
  const { service } = serviceOf(endpoint);
  for (const old of await metadata.listPushSubscriptions(user)) {
    if (old.device === device && old.endpoint !== endpoint && serviceOf(old.endpoint).service === service) await metadata.deletePushSubscription(old.endpoint);
  }
  // No encryption keys: APNs and FCM payloads are protected in transit by TLS only, which is why
  // they carry no conversation id either (see pushTag).
  await metadata.savePushSubscription({ user, device, endpoint, p256dh: "", auth: "", createdAt: nowMs });
}

/**
 * What a mobile push says about its conversation: a hash, not the id, because APNs and FCM see
 * the payload. The app, which knows its conversation ids, hashes them the same way to open the
 * right one: base64url(SHA-256(conv)), first 32 characters (the same as Web Push's Topic).
 */
export function pushTag(conv: string): string {
  return createHash("sha256").update(conv).digest("base64url").slice(0, 32);
}
