// Decides who gets a push and when. A message reaching a user none of whose devices is online
// pushes to each of the user's subscriptions, but a busy conversation must not turn into a push per
// message: each subscription has at most one push in flight and at most one per `minIntervalMs`,
// and whatever arrives meanwhile collapses into one trailing push that says how many it stands for.
// A push the service could not take (429, 5xx, a network error) is tried again after an
// exponential backoff, folded into whatever arrived meanwhile, a bounded number of times.

import type { Logger } from "pino";
import type { Clock } from "../clock.ts";
import type { MetadataStore, PresenceStore, PushSubscriptionRecord } from "../storage/types.ts";
import { serviceOf, type PushService } from "./mobile-token.ts";
import type { PushOutcome, PushProvider } from "./provider.ts";

/** Told the outcome of every push attempt (for metrics). */
export type PushOutcomeListener = (service: PushService, outcome: PushOutcome["kind"]) => void;

export interface PushNotifierDeps {
  metadata: Pick<MetadataStore, "listPushSubscriptions" | "deletePushSubscription">;
  presence: Pick<PresenceStore, "get">;
  provider: PushProvider;
  log: Logger;
  /** Decides the quiet intervals and backoffs (tests move a ManualClock instead of sleeping). */
  clock: Clock;
  /** Least time between two pushes to one subscription. */
  minIntervalMs: number;
  /** How long the push service keeps a push for a device that is offline. */
  ttlSec: number;
  /** Retries after a "retry" outcome: at most `attempts`, waiting baseMs, 2 x baseMs... up to maxMs (or what the service asked). */
  retry?: { attempts: number; baseMs: number; maxMs: number };
  onOutcome?: PushOutcomeListener;
  /** Of `users`, those who muted `conv` (SETTINGS_SET muteUntil): they are not pushed. */
  muted?: (conv: string, users: string[], nowMs: number) => Promise<Set<string>>;
}

const DEFAULT_RETRY = { attempts: 5, baseMs: 1_000, maxMs: 60_000 };

/** A subscription pushed to within the last `minIntervalMs`; forgotten once that has passed idle. */
interface Lane {
  sub: PushSubscriptionRecord;
  inFlight: boolean;
  /** Messages waiting for the next push, and the conversation of the latest. */
  pending: { conv: string; count: number } | null;
  /** Ends the quiet interval after a push: sends what is pending, or forgets the lane. */
  cancelTimer: (() => void) | null;
  /** Consecutive attempts that ended in "retry". */
  failures: number;
}

export class PushNotifier {
  /** By endpoint, which identifies a subscription. Holds only recently pushed ones, so memory stays bounded. */
  private readonly lanes = new Map<string, Lane>();
  /**
   * A user's subscriptions, remembered for `minIntervalMs`: a busy group would otherwise cost a
   * store query per offline member per message. Within the window a re-subscription waits.
   */
  private readonly subsCache = new Map<string, { subs: PushSubscriptionRecord[]; until: number }>();
  private closed = false;

  constructor(private readonly deps: PushNotifierDeps) {}

  /** Pushes `conv`'s news to those of `users` with no device online. Returns at once and never throws. */
  notify(users: string[], conv: string): void {
    if (this.closed) return;
    this.notifyOffline([...new Set(users)], conv).catch((err: unknown) => this.deps.log.warn({ err, conv }, "push: lookup failed"));
  }

  /** Cancels pending pushes; a push already in flight finishes, and its outcome is still handled. */
  close(): void {
    this.closed = true;
    for (const lane of this.lanes.values()) lane.cancelTimer?.();
    this.lanes.clear();
    // Graceful: pushes in flight finish on their connections.
    this.deps.provider.close?.();
  }

  /**
   * Most users have no subscription (never granted one, or on a client that does not push): once
   * the cache remembers that, they drop out here at no cost, and are asked about neither presence
   * (a round trip with Redis) nor mutes (SQLite: about 35 µs in the server). With every user asked
   * about both, server CPU per message sent to a user with no device online was 1.5× what it is
   * now (the resume bench's "sent to offline devices", 15 rounds against 6e837a1).
   */
  private async notifyOffline(users: string[], conv: string): Promise<void> {
    const subscribed = new Map<string, PushSubscriptionRecord[]>();
    const unknown: string[] = [];
    for (const user of users) {
      const subs = this.cachedSubscriptions(user);
      if (subs === undefined) unknown.push(user);
      else if (subs.length > 0) subscribed.set(user, subs);
    }
    if (subscribed.size === 0 && unknown.length === 0) return;
    const readUnknown = async () => {
      for (const user of unknown) {
        const subs = await this.readSubscriptions(user);
        if (subs.length > 0) subscribed.set(user, subs);
      }
    };
    // An online device receives the message over its socket; pushing as well would notify twice.
    // One presence lookup for all of them, however large the group, asked now, as the message is
    // delivered, not after the subscriptions are read: a device that goes offline just after it
    // received the message must not be pushed it.
    const [presence] = await Promise.all([this.deps.presence.get([...subscribed.keys(), ...unknown]), readUnknown()]);
    let offline = presence.filter((p) => !p.online && subscribed.has(p.user)).map((p) => p.user);
    if (offline.length > 0 && this.deps.muted) {
      const muted = await this.deps.muted(conv, offline, this.deps.clock.now());
      if (muted.size > 0) offline = offline.filter((u) => !muted.has(u));
    }
    if (this.closed) return;
    for (const user of offline) for (const sub of subscribed.get(user)!) this.enqueue(sub, conv);
  }

  /** The user's subscriptions while remembered; undefined once the entry expired or was never made. */
  private cachedSubscriptions(user: string): PushSubscriptionRecord[] | undefined {
    const hit = this.subsCache.get(user);
    return hit && hit.until > this.deps.clock.now() ? hit.subs : undefined;
  }

  /** The user's subscriptions from the store, remembered for `minIntervalMs`. */
  private async readSubscriptions(user: string): Promise<PushSubscriptionRecord[]> {
    const now = this.deps.clock.now();
    const subs = await this.deps.metadata.listPushSubscriptions(user);
    this.subsCache.set(user, { subs, until: now + this.deps.minIntervalMs });
    // Bounded: expired entries go whenever the cache grows past a few thousand users.
    if (this.subsCache.size > 4096) for (const [u, e] of this.subsCache) if (e.until <= now) this.subsCache.delete(u);
    return subs;
  }

  private enqueue(sub: PushSubscriptionRecord, conv: string): void {
    let lane = this.lanes.get(sub.endpoint);
    if (!lane) {
      lane = { sub, inFlight: false, pending: null, cancelTimer: null, failures: 0 };
      this.lanes.set(sub.endpoint, lane);
    }
    lane.sub = sub; // the latest keys, should the device have re-subscribed
    lane.pending = { conv, count: (lane.pending?.count ?? 0) + 1 };
    if (!lane.inFlight && !lane.cancelTimer) this.push(lane);
  }

  private push(lane: Lane): void {
    const pending = lane.pending;
    if (!pending) return;
    lane.pending = null;
    lane.inFlight = true;
    const startedAt = this.deps.clock.now();
    const { sub } = lane;
    let waitAtLeast = 0;
    this.deps.provider
      .send(sub, {
        // No sender and no text: the service worker fetches the content itself, and the push
        // service (a third party) learns nothing, which still holds once messages are end-to-end encrypted.
        payload: { type: "message", conv: pending.conv, count: pending.count },
        ttlSec: this.deps.ttlSec,
        urgency: "normal",
        topic: pending.conv,
      })
      .then(async (outcome) => {
        this.deps.onOutcome?.(serviceOf(sub.endpoint).service, outcome.kind);
        if (outcome.kind !== "retry") lane.failures = 0;
        if (outcome.kind === "gone") {
          this.deps.log.info({ user: sub.user, device: sub.device }, "push: subscription gone, deleting it");
          this.subsCache.delete(sub.user);
          await this.deps.metadata.deletePushSubscription(sub.endpoint);
          lane.pending = null;
        } else if (outcome.kind === "retry") {
          const retry = this.deps.retry ?? DEFAULT_RETRY;
          if (++lane.failures > retry.attempts) {
            // Given up: the next message, or the device coming back online, catches up.
            this.deps.log.warn({ user: sub.user, device: sub.device, error: outcome.error, attempts: lane.failures }, "push: not delivered, giving up");
            lane.failures = 0;
            return;
          }
          // Folded into what arrived meanwhile: one push still stands for every message.
          lane.pending = { conv: lane.pending?.conv ?? pending.conv, count: pending.count + (lane.pending?.count ?? 0) };
          const backoff = Math.min(retry.maxMs, retry.baseMs * 2 ** (lane.failures - 1));
          // Jitter, so that the devices a service outage hit do not all come back at once.
          waitAtLeast = Math.max(outcome.retryAfterMs ?? 0, backoff * (0.5 + Math.random() / 2));
          this.deps.log.info({ user: sub.user, device: sub.device, error: outcome.error, inMs: Math.round(waitAtLeast) }, "push: will retry");
        } else if (outcome.kind === "failed") {
          this.deps.log.warn({ user: sub.user, device: sub.device, error: outcome.error }, "push: not delivered");
        }
      })
      .catch((err: unknown) => this.deps.log.warn({ err, user: sub.user, device: sub.device }, "push: failed"))
      .finally(() => {
        lane.inFlight = false;
        if (this.closed) return;
        const wait = Math.max(0, startedAt + this.deps.minIntervalMs - this.deps.clock.now(), waitAtLeast);
        lane.cancelTimer = this.deps.clock.after(wait, () => this.endInterval(lane));
      });
  }

  private endInterval(lane: Lane): void {
    lane.cancelTimer = null;
    if (lane.pending) this.push(lane);
    else this.lanes.delete(lane.sub.endpoint);
  }
}
