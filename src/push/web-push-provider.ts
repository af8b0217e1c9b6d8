// Web Push delivery (RFC 8030) with VAPID (RFC 8292) and aes128gcm payload encryption (RFC 8291).
//
// web-push builds the request (VAPID JWT, encryption, TTL/Urgency/Topic headers) and fetch sends
// it. web-push's own sendNotification is not used: it always speaks https through node:https,
// whose socket timeout under Bun destroys the request without rejecting the promise (the push would
// hang forever), and it cannot reach the plain-http push service that tests allowlist on loopback.

import { generateRequestDetails } from "web-push";
import type { PushSubscriptionRecord } from "../storage/types.ts";
import { checkPushEndpoint } from "./endpoint-policy.ts";
import { pushTag } from "./mobile-token.ts";
import { retryAfterMs, type PushNotification, type PushOutcome, type PushProvider } from "./provider.ts";

export interface WebPushProviderOptions {
  vapid: { publicKey: string; privateKey: string; /** mailto: or https: contact for the push service. */ subject: string };
  /** Deadline for one push request, connection included. */
  timeoutMs: number;
  /** Test-only origins (e.g. "http://127.0.0.1:1234") exempt from the endpoint policy. */
  endpointAllowlist?: string[];
}

export class WebPushProvider implements PushProvider {
  private readonly allowlist: string[];

  constructor(private readonly opts: WebPushProviderOptions) {
    this.allowlist = opts.endpointAllowlist ?? [];
  }

  async send(sub: PushSubscriptionRecord, n: PushNotification): Promise<PushOutcome> {
    // Checked again at every send, not only when the device subscribed: the endpoint's name may
    // have been re-pointed at a private address since (DNS rebinding).
    const verdict = await checkPushEndpoint(sub.endpoint, { allowlist: this.allowlist });
    // Not "gone": the subscription passed this check when it was saved, and a resolver that
    // answers oddly for a while (split-horizon DNS, a bad cache) must not wipe every subscription.
    if (!verdict.ok) return { kind: "failed", error: `endpoint refused: ${verdict.reason}` };

    let req: ReturnType<typeof generateRequestDetails>;
    try {
      req = generateRequestDetails(
        { endpoint: sub.endpoint, keys: { p256dh: sub.p256dh, auth: sub.auth } },
        JSON.stringify(n.payload),
        {
          TTL: n.ttlSec,
          urgency: n.urgency,
          topic: webPushTopic(n.topic),
          vapidDetails: this.opts.vapid,
          contentEncoding: "aes128gcm",
        },
      );
    } catch (err) {
      // Bad subscription keys or bad VAPID settings; the latter is ours to fix, so nothing is deleted.
      return { kind: "failed", error: `cannot build the push request: ${(err as Error).message}` };
    }
    const headers = new Headers();
    for (const [name, value] of Object.entries(req.headers)) {
      // fetch computes the length of the body itself.
      if (name.toLowerCase() !== "content-length") headers.set(name, String(value));
    }

    let res: Response;
    try {
      res = await fetch(req.endpoint, {
        method: req.method,
        headers,
        body: req.body,
        // A redirect is not followed: its target was never checked against the endpoint policy.
        redirect: "manual",
        signal: AbortSignal.timeout(this.opts.timeoutMs),
      });
    } catch (err) {
      return { kind: "retry", error: `push request failed: ${(err as Error).message}` };
    }
    // Only the status matters; dropping the body frees the connection.
    await res.body?.cancel();
    return outcomeOf(res.status, res.headers.get("retry-after"));
  }
}

/**
 * 404 and 410 are how a push service says the subscription expired or was unsubscribed
 * (RFC 8030 §7.3). Every other failure keeps the subscription: 429 and 5xx are the service's own
 * trouble and are retried after a backoff; 400/403 usually mean our VAPID keys changed, which the
 * operator must fix rather than have every subscription deleted; and a 3xx is a service
 * redirecting us somewhere we refuse to follow, which does not prove the subscription dead either.
 */
function outcomeOf(status: number, retryAfter: string | null): PushOutcome {
  if (status >= 200 && status < 300) return { kind: "sent" };
  if (status === 404 || status === 410) return { kind: "gone" };
  const error = `push service answered ${status}`;
  if (status === 429 || status >= 500) return { kind: "retry", error, retryAfterMs: retryAfterMs(retryAfter) };
  return { kind: "failed", error };
}

/**
 * The Topic header allows at most 32 characters of base64url (RFC 8030 §5.4), and the push service
 * should not learn conversation ids anyway, so the topic sent is a hash of the one asked for.
 */
export function webPushTopic(topic: string): string {
  return pushTag(topic);
}
