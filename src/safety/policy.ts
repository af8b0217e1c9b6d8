// The privacy and blocking rules, in one place: pure functions of facts the caller looked up.
// docs/protocol.md §10.3 is their normative description.
//
// Who a setting admits ("everyone", "contacts", "nobody") is decided for one owner and one other
// user. "everyone" still needs a relation: the other is in the owner's contacts, or shares a
// conversation the owner is in by their own choice (created or opened it, accepted an
// invitation, joined by link, or wrote in it). Being put into a group, or having a direct
// conversation opened with you, by someone else therefore reveals nothing.
//
// Presence is reciprocal, as in WhatsApp: a viewer sees a target's online state (or last seen)
// only when the target's setting admits the viewer AND the viewer's own setting admits the
// target, and neither has blocked the other. Read receipts are reciprocal too: in a direct
// conversation, if either member turned them off, neither sees the other's read marker.

import type { ReceiptEvent } from "../bus/events.ts";
import type { PresenceInfo, PrivacySettings, ReceiptPush, Visibility } from "../proto/types.ts";

/** How an owner relates to another user, as far as the settings care. */
export interface Relation {
  /** The other is in the owner's contact list. */
  listed: boolean;
  /** The owner shares a conversation with the other that the owner is in by choice. */
  chose: boolean;
}

export function admits(level: Visibility, r: Relation): boolean {
  switch (level) {
    case "everyone":
      return r.listed || r.chose;
    case "contacts":
      return r.listed;
    case "nobody":
      return false;
  }
}

/** Which parts of a target's presence a viewer may see. */
export interface PresenceMask {
  online: boolean;
  lastSeen: boolean;
}

export const HIDDEN: PresenceMask = Object.freeze({ online: false, lastSeen: false });
export const SHOWN: PresenceMask = Object.freeze({ online: true, lastSeen: true });

export interface PresenceFacts {
  viewer: PrivacySettings;
  target: PrivacySettings;
  /** Either of the two blocked the other. */
  blocked: boolean;
  /** How the target relates to the viewer, and the viewer to the target. */
  targetToViewer: Relation;
  viewerToTarget: Relation;
}

export function presenceMask(f: PresenceFacts): PresenceMask {
  if (f.blocked) return HIDDEN;
  const shown = (k: "online" | "lastSeen") => admits(f.target[k], f.targetToViewer) && admits(f.viewer[k], f.viewerToTarget);
  return { online: shown("online"), lastSeen: shown("lastSeen") };
}

export const sameMask = (a: PresenceMask, b: PresenceMask) => a.online === b.online && a.lastSeen === b.lastSeen;

/** A presence state as the viewer may see it: hidden parts read as offline and unknown (0). */
export function maskPresence(p: PresenceInfo, m: PresenceMask): PresenceInfo {
  return { user: p.user, online: m.online && p.online, lastSeen: m.lastSeen ? p.lastSeen : 0 };
}

/**
 * A presence transition as the viewer may hear it, or null when it tells them nothing: coming
 * online is news only to those who may see online; going offline carries the last-seen time to
 * those who may see it, and "offline" to those who saw the user online.
 */
export function presencePush(p: PresenceInfo, m: PresenceMask): PresenceInfo | null {
  if (p.online) return m.online ? p : null;
  if (!m.online && !m.lastSeen) return null;
  return { user: p.user, online: false, lastSeen: m.lastSeen ? p.lastSeen : 0 };
}

/**
 * Whether an adder may put a user into a group directly; otherwise the user gets an invitation.
 * "everyone" here is anyone: adding someone reveals nothing about them.
 */
export function mayAdd(target: PrivacySettings, targetListsAdder: boolean): boolean {
  switch (target.groupAdd) {
    case "everyone":
      return true;
    case "contacts":
      return targetListsAdder;
    case "nobody":
      return false;
  }
}

/** In a direct conversation: whether read markers are hidden both ways. */
export const readsHidden = (a: PrivacySettings, b: PrivacySettings) => !a.readReceipts || !b.readReceipts;

/**
 * A receipt push as its receiver may see it. With reads hidden (a direct conversation in which
 * one member turned read receipts off) the receiver sees no read marker but their own.
 */
export function receiptFor(receiver: string, e: ReceiptEvent, body: ReceiptPush): ReceiptPush {
  if (!e.hideRead) return body;
  return { ...body, read: e.user === receiver ? body.read : 0, allRead: 0 };
}
