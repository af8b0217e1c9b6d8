// Storage interfaces of safety and moderation: the user registry with each user's privacy
// settings, contacts and blocks; group invitations, invite links and join requests; reports, the
// admin audit log and messages removed by moderation. Each role is a small interface; one class
// per metadata backend (SQLite, PostgreSQL) implements all three on the metadata database, since
// some questions join its conversation and member tables. One contract suite
// (test/contract/safety-store.contract.ts) runs on both.

import type { PrivacySettings } from "../proto/types.ts";
import type { MaybeAsync } from "../maybe-async.ts";

/** How a user came to exist: provisioned through the admin API, or on first authentication. */
export type UserOrigin = "admin" | "login";

export interface UserRecord {
  id: string;
  createdAt: number;
  origin: UserOrigin;
  /** When the user was banned; null while they are not. */
  bannedAt: number | null;
  banReason: string | null;
}

export const DEFAULT_PRIVACY: Readonly<PrivacySettings> = Object.freeze({ lastSeen: "everyone", online: "everyone", groupAdd: "everyone", readReceipts: true });

/** A list would grow past its configured limit (contacts, blocks): nothing was written. */
export class ListFullError extends Error {
  constructor(readonly max: number) {
    super(`at most ${max} entries`);
  }
}

export interface UserDirectory {
  /**
   * The user's record, registering them first (with `origin`) if they were never seen. Every
   * connection calls it before its upgrade: an embedded store answers at once (maybe-async.ts),
   * and may write a "login" registration a moment later, in a batch (the store's reads see it);
   * an "admin" one (provisioning, answered "created") is written before it returns.
   */
  admitUser(id: string, origin: UserOrigin, nowMs: number): MaybeAsync<{ user: UserRecord; created: boolean }>;
  getUser(id: string): Promise<UserRecord | null>;
  /** Which of `ids` are registered. */
  knownUsers(ids: string[]): Promise<Set<string>>;
  /** Users whose id contains `query` (all when empty), ascending by id, after `after`, at most `limit`. */
  searchUsers(query: string, after: string, limit: number): Promise<UserRecord[]>;
  /** Bans (`ban` set) or unbans (null) a registered user; null when the user is unknown. */
  setBan(id: string, ban: { at: number; reason: string } | null): Promise<UserRecord | null>;

  /** Each user's settings; DEFAULT_PRIVACY for those who never set any. */
  getPrivacy(users: string[]): Promise<Map<string, PrivacySettings>>;
  setPrivacy(user: string, settings: PrivacySettings): Promise<void>;

  listContacts(owner: string): Promise<string[]>;
  /** Of `owners`, those whose contact list holds `contact`. */
  contactsAmong(owners: string[], contact: string): Promise<Set<string>>;
  /** Adds contacts not yet listed; throws ListFullError (writing nothing) if the list would exceed `max`. */
  addContacts(owner: string, users: string[], nowMs: number, max: number): Promise<void>;
  removeContacts(owner: string, users: string[]): Promise<void>;

  /** Users `blocker` blocked, ascending. */
  listBlocked(blocker: string): Promise<string[]>;
  /** True when newly blocked; throws ListFullError if the list would exceed `max`. */
  block(blocker: string, blocked: string, nowMs: number, max: number): Promise<boolean>;
  /** True when a block was lifted. */
  unblock(blocker: string, blocked: string): Promise<boolean>;
  /** Of `blockers`, those who blocked `blocked`. */
  blockersAmong(blockers: string[], blocked: string): Promise<Set<string>>;

  /**
   * Records that `user` is in conversation `conv` by their own choice (they created or opened it,
   * accepted an invitation, joined by link, or wrote in it). Presence rules count only such
   * conversations, so being put into one by someone else reveals nothing.
   */
  recordConsent(conv: string, user: string, nowMs: number): Promise<boolean>;
  forgetConsent(conv: string, user: string): Promise<void>;
  /**
   * Of `others`, those who share a conversation with `user` in which the member named by
   * `chosenBy` is by their own choice: "user" (user chose it) or "other" (the other did).
   */
  sharedByChoice(user: string, others: string[], chosenBy: "user" | "other"): Promise<Set<string>>;
}

export interface InvitationRecord {
  conv: string;
  user: string;
  by: string;
  at: number;
}

export interface InviteLinkRecord {
  token: string;
  conv: string;
  by: string;
  at: number;
  approval: boolean;
  /** Null while the link works. */
  revokedAt: number | null;
}

export interface JoinRequestRecord {
  conv: string;
  user: string;
  /** The link it came through. */
  token: string;
  at: number;
}

export interface InviteStore {
  /** True when recorded; false when `user` already has an invitation to `conv` (kept as it was). */
  invite(inv: InvitationRecord): Promise<boolean>;
  /** The user's pending invitations, oldest first. */
  listInvitations(user: string): Promise<InvitationRecord[]>;
  /** Deletes the invitation and returns it; null when there was none. Of concurrent calls one gets it. */
  takeInvitation(conv: string, user: string): Promise<InvitationRecord | null>;

  createLink(link: InviteLinkRecord): Promise<void>;
  getLink(token: string): Promise<InviteLinkRecord | null>;
  /** The conversation's links, revoked ones included, oldest first. */
  listLinks(conv: string): Promise<InviteLinkRecord[]>;
  /** True when a working link of `conv` was revoked now. */
  revokeLink(conv: string, token: string, nowMs: number): Promise<boolean>;

  /** True when recorded; false when the user already asked to join `conv`. */
  requestJoin(req: JoinRequestRecord): Promise<boolean>;
  listJoinRequests(conv: string): Promise<JoinRequestRecord[]>;
  /** Deletes the request and returns it; null when there was none. */
  takeJoinRequest(conv: string, user: string): Promise<JoinRequestRecord | null>;
}

/** A reporter's copy of a message, stored as they sent it (the body base64 in JSON). */
export interface ReportedCopy {
  conv: string;
  seq: number;
  from: string;
  ts: number;
  kind: number;
  body: Uint8Array;
}

export interface NewReport {
  reporter: string;
  /** The reported user: named by the reporter, or the sender of the reported message. */
  user: string;
  /** The reported message, when a message was reported. */
  conv: string | null;
  seq: number | null;
  reason: string;
  messages: ReportedCopy[];
  at: number;
}

export interface ReportRecord extends NewReport {
  id: number;
}

export interface NewAuditEntry {
  at: number;
  /** The admin token's user and device. */
  admin: string;
  device: string;
  /** e.g. "users.ban". */
  action: string;
  /** What the action was about (a user id, a conversation id, a report id), "" when nothing. */
  target: string;
  /** HTTP status the action was answered with. */
  status: number;
  details: Record<string, unknown>;
}

export interface AuditEntry extends NewAuditEntry {
  id: number;
}

export interface RemovedMessageRecord {
  conv: string;
  seq: number;
  /** The message's sender. */
  sender: string;
  /** Media the message carried; it is no longer served. */
  media: string | null;
  /** The admin who removed it. */
  by: string;
  reason: string;
  at: number;
}

export interface ModerationStore {
  createReport(r: NewReport): Promise<number>;
  /** Newest first, with id < `before` (0: no bound), at most `limit`. */
  listReports(before: number, limit: number): Promise<ReportRecord[]>;
  getReport(id: number): Promise<ReportRecord | null>;

  appendAudit(e: NewAuditEntry): Promise<number>;
  /** Newest first, with id < `before` (0: no bound), at most `limit`. */
  listAudit(before: number, limit: number): Promise<AuditEntry[]>;

  /** True when recorded now; false when the message had already been removed. */
  removeMessage(r: RemovedMessageRecord): Promise<boolean>;
  removedIn(conv: string): Promise<RemovedMessageRecord[]>;
  /** Every conversation with at least one removed message. */
  conversationsWithRemovals(): Promise<string[]>;
}

export type SafetyStore = UserDirectory & InviteStore & ModerationStore;
