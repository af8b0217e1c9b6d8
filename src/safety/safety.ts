// The safety service of one node: blocks, privacy settings, contacts, consent and the user
// registry, as the command handlers and actors ask about them. The hot questions (may these two
// talk, see each other type, see each other's read markers) are answered from per-node caches of
// each user's settings and block list; the rarer ones (presence watches, group additions) from
// batched store reads.
//
// Cluster: every node caches a user's settings and block list after first use. A node
// that changes them writes the store first, then publishes a "safety" event on the safety
// subject, which every node (itself included) hears: it drops its cached copies and re-decides
// the presence its devices watch (PresenceGate). After a bus outage, whose events may be lost,
// every cache is dropped. So a change is in force on the node that made it at once, and on the
// others as soon as the event arrives.

import type { Logger } from "pino";
import type { Bus, BusListener, Unsubscribe } from "../bus/bus.ts";
import type { BusEvent } from "../bus/events.ts";
import { subjects } from "../bus/subjects.ts";
import type { Config } from "../config/config.ts";
import { ErrorCode, type PushKindId } from "../proto/codes.ts";
import { CommandError } from "../proto/command-error.ts";
import type { PrivacySettings } from "../proto/types.ts";
import type { SafetyStore } from "../storage/safety-types.ts";
import type { PresenceStore } from "../storage/types.ts";
import { mayAdd, presenceMask, readsHidden, type PresenceMask } from "./policy.ts";
import { PresenceGate } from "./presence-gate.ts";
import { RemovedMessages } from "./removed-messages.ts";
import { BoundedMap } from "../bounded-map.ts";

/** Users whose settings and block lists one node keeps in memory; the least recently used go first. */
const MAX_CACHED_USERS = 50_000;
/** Conversations whose recorded consents a node remembers, by member; the oldest go first. */
const MAX_CONSENT_CONVERSATIONS = 100_000;

interface Cached {
  privacy?: Promise<PrivacySettings>;
  blocked?: Promise<Set<string>>;
  /** The block list once `blocked` has resolved: what the hot path can check without a promise. */
  blockedNow?: Set<string>;
}

export interface SafetyDeps {
  store: SafetyStore;
  bus: Bus;
  config: Config;
  presence: PresenceStore;
  log: Logger;
}

export class Safety {
  readonly store: SafetyStore;
  /** Who may see whose presence, for the devices of this node. */
  readonly presence: PresenceGate;
  /** Messages removed by moderation. */
  readonly removed: RemovedMessages;
  private readonly cache = new BoundedMap<string, Cached>(MAX_CACHED_USERS);
  /**
   * conversation -> the members whose consent this node has recorded. By conversation, not by a
   * joined "conv user" key: the check runs on every SEND, and a joined key is a new string to
   * build and hash each time, where these ids are strings the caller already holds.
   */
  private readonly consents = new BoundedMap<string, Set<string>>(MAX_CONSENT_CONVERSATIONS);
  private readonly listener: BusListener = { onEvent: (e) => this.heard(e) };
  private readonly offRecovered: Unsubscribe;

  constructor(private readonly deps: SafetyDeps) {
    this.store = deps.store;
    this.presence = new PresenceGate((viewer, targets) => this.masks(viewer, targets), deps.presence, deps.log);
    this.removed = new RemovedMessages(deps.store);
    deps.bus.subscribe(subjects.safety, this.listener);
    this.offRecovered = deps.bus.onRecovered(() => {
      this.cache.clear();
      this.consents.clear();
      this.removed.reset();
      void this.presence.refreshAll();
    });
  }

  /** Loads what must be known before serving (the conversations with removed messages). */
  async start(): Promise<void> {
    await this.removed.start();
  }

  close(): void {
    this.deps.bus.unsubscribe(subjects.safety, this.listener);
    this.offRecovered();
  }

  private heard(e: BusEvent): void {
    if (e.t === "safety") {
      this.cache.delete(e.user);
      void this.presence.refresh(e.user);
    } else if (e.t === "removed") {
      this.removed.heard(e);
    }
  }

  // ---- cached facts about one user ------------------------------------------------------------

  private entry(user: string): Cached {
    // Most recently used last, so the least recently used is first in line for eviction.
    let c = this.cache.touch(user);
    if (c) return c;
    c = {};
    this.cache.set(user, c);
    return c;
  }

  /** Caches a lookup; a failed one is not kept, so the next call asks the store again. */
  private cached<K extends "privacy" | "blocked">(user: string, key: K, load: () => NonNullable<Cached[K]>): NonNullable<Cached[K]> {
    const c = this.entry(user);
    const hit = c[key];
    if (hit) return hit as NonNullable<Cached[K]>;
    const p = load();
    c[key] = p;
    p.catch(() => {
      if (c[key] === p) delete c[key];
    });
    return p;
  }

  privacy(user: string): Promise<PrivacySettings> {
    return this.cached(user, "privacy", async () => (await this.store.getPrivacy([user])).get(user)!);
  }

  /** The users `user` blocked. */
  blocked(user: string): Promise<Set<string>> {
    const c = this.entry(user);
    if (c.blocked) return c.blocked;
    const p = this.store.listBlocked(user).then((list) => new Set(list));
    c.blocked = p;
    // Once loaded, also kept as a plain value for knownNotBlocked. An entry dropped meanwhile (the
    // list changed) is no longer in the cache, so what lands on it is never read.
    p.then(
      (set) => {
        if (c.blocked === p) c.blockedNow = set;
      },
      () => {
        if (c.blocked === p) delete c.blocked;
      },
    );
    return p;
  }

  /**
   * True when both block lists are in memory and neither blocked the other; false when a list
   * is not loaded yet (the caller then asks blocked(), which loads it) or a block stands.
   */
  knownNotBlocked(a: string, b: string): boolean {
    const ofA = this.cache.get(a)?.blockedNow;
    const ofB = this.cache.get(b)?.blockedNow;
    return ofA !== undefined && ofB !== undefined && !ofA.has(b) && !ofB.has(a);
  }

  /** Whether `user`'s consent to `conv` is already recorded (consent() would do nothing). */
  consentKnown(conv: string, user: string): boolean {
    return this.consents.get(conv)?.has(user) ?? false;
  }

  /** Whether either of the two blocked the other. */
  async blockedEither(a: string, b: string): Promise<boolean> {
    const [ofA, ofB] = await Promise.all([this.blocked(a), this.blocked(b)]);
    return ofA.has(b) || ofB.has(a);
  }

  /** Refuses with Blocked (1104) when either blocked the other. */
  async requireNotBlocked(user: string, other: string): Promise<void> {
    const mine = await this.blocked(user);
    if (mine.has(other)) throw new CommandError(ErrorCode.Blocked, `you blocked ${other}; unblock them first`);
    if ((await this.blocked(other)).has(user)) throw new CommandError(ErrorCode.Blocked, `${other} does not accept this from you`);
  }

  /** Whether `viewer` may see `typist` typing: not when either blocked the other. */
  async typingVisible(viewer: string, typist: string): Promise<boolean> {
    return viewer === typist || !(await this.blockedEither(viewer, typist));
  }

  /** In a direct conversation of `a` and `b`: whether read markers are hidden both ways. */
  async readsHidden(a: string, b: string): Promise<boolean> {
    const [pa, pb] = await Promise.all([this.privacy(a), this.privacy(b)]);
    return readsHidden(pa, pb);
  }

  /**
   * Splits the users `adder` names for a group into those added at once and those whose
   * settings ask for an invitation; refuses Blocked (1104) if a block stands between the adder
   * and any of them. A few batched store reads, however many users.
   */
  async groupAdmission(adder: string, users: string[]): Promise<{ add: string[]; invite: string[] }> {
    const s = this.store;
    const [mine, theirs, settings, listing] = await Promise.all([this.blocked(adder), s.blockersAmong(users, adder), s.getPrivacy(users), s.contactsAmong(users, adder)]);
    for (const u of users) {
      if (mine.has(u)) throw new CommandError(ErrorCode.Blocked, `you blocked ${u}; unblock them first`);
      if (theirs.has(u)) throw new CommandError(ErrorCode.Blocked, `${u} does not accept this from you`);
    }
    const add: string[] = [];
    const invite: string[] = [];
    for (const u of users) (mayAdd(settings.get(u)!, listing.has(u)) ? add : invite).push(u);
    return { add, invite };
  }

  // ---- the registry ---------------------------------------------------------------------------

  /** With users.requireRegistered: refuses (1100) when any of `users` does not exist. */
  async requireKnown(users: string[]): Promise<void> {
    if (!this.deps.config.users.requireRegistered || users.length === 0) return;
    const known = await this.store.knownUsers(users);
    const missing = users.find((u) => !known.has(u));
    if (missing !== undefined) throw new CommandError(ErrorCode.NotFound, `no such user: ${missing}`);
  }

  // ---- consent --------------------------------------------------------------------------------

  /**
   * Records that `user` is in `conv` by their own choice. Cheap to call on every send: each node
   * writes a pair once. A new consent may reveal presence, so watchers re-decide.
   */
  async consent(conv: string, user: string): Promise<void> {
    if (this.consentKnown(conv, user)) return;
    if (await this.store.recordConsent(conv, user, Date.now())) await this.changed(user);
    const members = this.consents.get(conv);
    if (members) members.add(user);
    else this.consents.set(conv, new Set([user]));
  }

  /** `user` left `conv`, or was removed: the conversation no longer counts as their choice. */
  async withdrawConsent(conv: string, user: string): Promise<void> {
    this.consents.get(conv)?.delete(user);
    await this.store.forgetConsent(conv, user);
    await this.changed(user);
  }

  // ---- changes and pushes ---------------------------------------------------------------------

  /**
   * Tells every node that what it knows about `user` (settings, contacts, blocks, consent) is
   * stale. Resolves once the bus has handed the news to every node (Bus.ready): a command that
   * awaits it before replying is in force on the other nodes by the time its client hears back.
   */
  changed(user: string): Promise<void> {
    this.cache.delete(user);
    this.deps.bus.publish(subjects.safety, { t: "safety", user });
    return this.deps.bus.ready();
  }

  /** A push for every synced device of `user`, wherever they are connected. */
  notify(user: string, kind: PushKindId, body: object): void {
    this.deps.bus.publish(subjects.user(user), { t: "notice", kind, body });
  }

  // ---- presence -------------------------------------------------------------------------------

  /** What `viewer` may see of each target's presence, from the store (batched: a few queries for any number of targets). */
  private async masks(viewer: string, targets: string[]): Promise<Map<string, PresenceMask>> {
    const others = targets.filter((t) => t !== viewer);
    const s = this.store;
    const [settings, myContacts, myBlocks, listMe, blockMe, iChose, theyChose] = await Promise.all([
      s.getPrivacy([viewer, ...others]),
      s.listContacts(viewer).then((l) => new Set(l)),
      s.listBlocked(viewer).then((l) => new Set(l)),
      s.contactsAmong(others, viewer),
      s.blockersAmong(others, viewer),
      s.sharedByChoice(viewer, others, "user"),
      s.sharedByChoice(viewer, others, "other"),
    ]);
    const out = new Map<string, PresenceMask>();
    if (targets.includes(viewer)) out.set(viewer, { online: true, lastSeen: true });
    for (const t of others) {
      out.set(
        t,
        presenceMask({
          viewer: settings.get(viewer)!,
          target: settings.get(t)!,
          blocked: myBlocks.has(t) || blockMe.has(t),
          targetToViewer: { listed: listMe.has(t), chose: theyChose.has(t) },
          viewerToTarget: { listed: myContacts.has(t), chose: iChose.has(t) },
        }),
      );
    }
    return out;
  }
}
