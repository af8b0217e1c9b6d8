// Presence as each watching device may see it. PRESENCE_SUBSCRIBE decides, per watched user, what
// the device may see (policy.ts: settings, contacts, consent and blocks, both ways); the node's
// presence fan-out asks view() before each push. When a user's blocks, contacts, settings or
// consent change, every watch involving them (as watcher or watched) is decided again, and a
// device whose view changed gets the watched user's state as it may now see it: a user who
// blocks you drops to "offline" on your screen at once.

import type { Logger } from "pino";
import { PushKind, type PushKindId } from "../proto/codes.ts";
import type { PresenceInfo } from "../proto/types.ts";
import type { PresenceStore } from "../storage/types.ts";
import { HIDDEN, maskPresence, presencePush, sameMask, type PresenceMask } from "./policy.ts";

/** A device connection that watches presence (a DeviceSession). */
export interface Watcher {
  readonly user: string;
  readonly connected: boolean;
  push(kind: PushKindId, body: object): boolean;
}

/** What `viewer` may see of each of `targets`. */
export type Decide = (viewer: string, targets: string[]) => Promise<Map<string, PresenceMask>>;

export class PresenceGate {
  /** Watcher -> watched user -> what it may see. */
  private readonly masks = new Map<Watcher, Map<string, PresenceMask>>();
  /** Watched user -> watchers; watching user -> watchers: who to decide again when a user changes. */
  private readonly byTarget = new Map<string, Set<Watcher>>();
  private readonly byViewer = new Map<string, Set<Watcher>>();
  /** Re-decisions run one at a time, so a later change is never overtaken by an earlier one. */
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly decide: Decide,
    private readonly store: PresenceStore,
    private readonly log: Logger,
  ) {}

  /**
   * Sets what `w` watches and returns each user's presence as `w` may see it now. Call before the
   * node starts fanning out pushes for these users to `w`.
   */
  async watch(w: Watcher, users: string[]): Promise<Map<string, PresenceInfo>> {
    const [masks, states] = await Promise.all([this.decide(w.user, users), this.store.get(users)]);
    this.drop(w);
    if (users.length > 0) {
      this.masks.set(w, masks);
      index(this.byViewer, w.user).add(w);
      for (const u of users) index(this.byTarget, u).add(w);
    }
    const out = new Map<string, PresenceInfo>();
    for (const u of users) out.set(u, maskPresence(states.find((p) => p.user === u) ?? { user: u, online: false, lastSeen: 0 }, masks.get(u) ?? HIDDEN));
    return out;
  }

  /** Forgets a watcher (its connection closed, or it watches nobody now). */
  drop(w: Watcher): void {
    const m = this.masks.get(w);
    if (!m) return;
    this.masks.delete(w);
    unindex(this.byViewer, w.user, w);
    for (const u of m.keys()) unindex(this.byTarget, u, w);
  }

  /** A presence transition as `w` may hear it; null: not at all. */
  view(w: Watcher, info: PresenceInfo): PresenceInfo | null {
    return presencePush(info, this.masks.get(w)?.get(info.user) ?? HIDDEN);
  }

  /** Decides again every watch that involves `user`; pushes the new view where it changed. */
  refresh(user: string): Promise<void> {
    return this.enqueue(() => this.redecide(user));
  }

  /** Decides every watch again (after a bus outage, when changes may have been missed). */
  refreshAll(): Promise<void> {
    return this.enqueue(async () => {
      for (const viewer of [...this.byViewer.keys()]) await this.redecide(viewer);
    });
  }

  private enqueue(task: () => Promise<void>): Promise<void> {
    const run = this.queue.then(task).catch((err: unknown) => this.log.warn({ err }, "presence re-decision failed"));
    this.queue = run;
    return run;
  }

  private async redecide(user: string): Promise<void> {
    // As a watcher: everything its devices watch. As a watched user: just them, for every watcher.
    const jobs = new Map<Watcher, string[]>();
    for (const w of this.byViewer.get(user) ?? []) jobs.set(w, [...(this.masks.get(w)?.keys() ?? [])]);
    for (const w of this.byTarget.get(user) ?? []) if (!jobs.has(w)) jobs.set(w, [user]);
    for (const [w, targets] of jobs) {
      if (targets.length === 0) continue;
      const next = await this.decide(w.user, targets);
      const masks = this.masks.get(w);
      if (!masks) continue; // dropped meanwhile
      const changed = targets.filter((t) => masks.has(t) && !sameMask(masks.get(t)!, next.get(t) ?? HIDDEN));
      for (const t of changed) masks.set(t, next.get(t) ?? HIDDEN);
      if (changed.length === 0 || !w.connected) continue;
      const states = await this.store.get(changed);
      for (const t of changed) {
        const now = states.find((p) => p.user === t) ?? { user: t, online: false, lastSeen: 0 };
        w.push(PushKind.Presence, maskPresence(now, masks.get(t)!));
      }
    }
  }
}

function index(map: Map<string, Set<Watcher>>, key: string): Set<Watcher> {
  let set = map.get(key);
  if (!set) map.set(key, (set = new Set()));
  return set;
}

function unindex(map: Map<string, Set<Watcher>>, key: string, w: Watcher): void {
  const set = map.get(key);
  if (!set) return;
  set.delete(w);
  if (set.size === 0) map.delete(key);
}
