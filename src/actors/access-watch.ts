// Revocations and bans, as every node hears them on one subject (subjects.access). A node closes
// its connections of the revoked device or banned user at once, and remembers the event for a
// short while: an upgrade whose store check ran just before the revocation committed opens its
// socket after the event went by, and is closed at open instead (no second store read per
// connection for it). After a bus outage, events may have been missed: every connection is
// checked against the store again.

import type { BusEvent } from "../bus/events.ts";
import { subjects } from "../bus/subjects.ts";
import { DisconnectCode, type DisconnectCodeId } from "../proto/codes.ts";
import type { NodeContext } from "./context.ts";
import type { DeviceSession } from "./device-session.ts";

/** Longer than an upgrade takes from its store check to the socket's open, by far. */
const REMEMBER_MS = 30_000;

/** What the watch needs of its node: the open connections of a user. */
export interface AccessHost {
  /** Snapshots: closing a connection while looping over one does not change it. */
  sessionsOf(user: string): readonly DeviceSession[];
  sessions(): readonly DeviceSession[];
}

export class AccessWatch {
  /** "user" (banned) or "user\0device" (revoked) -> when it was heard. */
  private readonly recent = new Map<string, number>();

  constructor(
    private readonly ctx: NodeContext,
    private readonly host: AccessHost,
  ) {
    // For the node's lifetime: the subscriptions end with the bus, when the server stops.
    ctx.bus.subscribe(subjects.access, { onEvent: (e) => this.heard(e) });
    ctx.bus.onRecovered(() => void this.recheckAll());
  }

  /** Why a connection opening now must be closed at once, or null. */
  refusal(s: DeviceSession): DisconnectCodeId | null {
    if (this.recent.size === 0) return null;
    if (this.fresh(s.user)) return DisconnectCode.UserBanned;
    if (this.fresh(s.user + "\u0000" + s.device)) return DisconnectCode.DeviceRevoked;
    return null;
  }

  private fresh(key: string): boolean {
    const at = this.recent.get(key);
    return at !== undefined && this.ctx.clock.now() - at < REMEMBER_MS;
  }

  private heard(e: BusEvent): void {
    const now = this.ctx.clock.now();
    for (const [k, at] of this.recent) {
      if (now - at < REMEMBER_MS) break;
      this.recent.delete(k);
    }
    if (e.t === "revoke") {
      this.recent.set(e.user + "\u0000" + e.device, now);
      for (const s of this.host.sessionsOf(e.user)) if (s.device === e.device) s.close(DisconnectCode.DeviceRevoked, "device revoked");
    } else if (e.t === "ban") {
      this.recent.set(e.user, now);
      for (const s of this.host.sessionsOf(e.user)) s.close(DisconnectCode.UserBanned, "user banned");
    } else if (e.t === "unban") {
      this.recent.delete(e.user);
    }
  }

  private async recheckAll(): Promise<void> {
    const { metadata, safety, log } = this.ctx;
    for (const s of this.host.sessions()) {
      try {
        if (await metadata.isDeviceRevoked(s.user, s.device)) s.close(DisconnectCode.DeviceRevoked, "device revoked");
        else if ((await safety.store.getUser(s.user))?.bannedAt) s.close(DisconnectCode.UserBanned, "user banned");
      } catch (err) {
        log.warn({ err, user: s.user }, "access re-check after a bus outage failed");
      }
    }
  }
}
