// SQLite SafetyStore: the user registry, privacy settings, contacts, blocks, group invitations,
// invite links, join requests, reports, the audit log and removed messages, on the embedded
// metadata database. bun:sqlite is synchronous, so every method completes before it returns.

import { and, asc, count, desc, eq, gt, inArray, isNull, lt, sql } from "drizzle-orm";
import type { BunSQLiteDatabase } from "drizzle-orm/bun-sqlite";
import { alias } from "drizzle-orm/sqlite-core";
import type { PrivacySettings } from "../../proto/types.ts";
import { auditRecord, auditRow, containsPattern, distinct, linkColumns, privacyRecord, removedColumns, reportRecord, reportRow, requestColumns, userRecord } from "../safety-rows.ts";
import {
  DEFAULT_PRIVACY,
  ListFullError,
  type AuditEntry,
  type InvitationRecord,
  type InviteLinkRecord,
  type JoinRequestRecord,
  type NewAuditEntry,
  type NewReport,
  type RemovedMessageRecord,
  type ReportRecord,
  type SafetyStore,
  type UserOrigin,
  type UserRecord,
} from "../safety-types.ts";
import type { ConnectWriter } from "./connect-writer.ts";
import type * as schema from "./schema.ts";
import { auditLog, blocks, contacts, invitations, inviteLinks, joinRequests, memberConsents, members, privacySettings, removedMessages, reports, users } from "./schema.ts";

type Orm = BunSQLiteDatabase<typeof schema>;

/** Write transactions take the write lock up front so they never fail upgrading a read lock. */
const WRITE = { behavior: "immediate" } as const;

export class SqliteSafetyStore implements SafetyStore {
  // Every connection admits its user: prepared once, not built and compiled per upgrade.
  readonly #userById;
  // A node reads a user's privacy settings and block list the first time it needs them (a
  // receipt, a presence decision, a send): prepared once too (safety.ts caches the answers).
  readonly #privacyOf;
  readonly #blockedBy;

  constructor(
    private readonly db: Orm,
    /** Where a connection's registration waits for the batch; reads of `users` flush it first. */
    private readonly connects: ConnectWriter,
  ) {
    this.#userById = db.select().from(users).where(eq(users.id, sql.placeholder("id"))).prepare();
    // The users as one JSON array parameter, so that one statement serves any number of them.
    this.#privacyOf = db
      .select()
      .from(privacySettings)
      .where(sql`${privacySettings.user} IN (SELECT value FROM json_each(${sql.placeholder("users")}))`)
      .prepare();
    this.#blockedBy = db.select({ b: blocks.blocked }).from(blocks).where(eq(blocks.blocker, sql.placeholder("blocker"))).orderBy(asc(blocks.blocked)).prepare();
  }

  // ---- users --------------------------------------------------------------------------------

  admitUser(id: string, origin: UserOrigin, nowMs: number): { user: UserRecord; created: boolean } {
    // An operator provisioning a user is told whether it was created: from the database, and
    // written before the answer. A connection's registration joins the batch (connect-writer.ts).
    if (origin === "admin") this.connects.flush();
    const known = this.#userById.get({ id });
    if (known) return { user: userRecord(known), created: false };
    const pending = this.connects.pendingUser(id);
    if (pending) return { user: userRecord(pending), created: false };
    const row = { id, createdAt: nowMs, origin, bannedAt: null, banReason: null };
    this.connects.registerUser(row);
    if (origin === "admin") this.connects.flush();
    return { user: userRecord(row), created: true };
  }

  async getUser(id: string): Promise<UserRecord | null> {
    this.connects.flush();
    const row = this.db.select().from(users).where(eq(users.id, id)).get();
    return row ? userRecord(row) : null;
  }

  async knownUsers(ids: string[]): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    this.connects.flush();
    return new Set(this.db.select({ id: users.id }).from(users).where(inArray(users.id, distinct(ids))).all().map((r) => r.id));
  }

  async searchUsers(query: string, after: string, limit: number): Promise<UserRecord[]> {
    this.connects.flush();
    return this.db
      .select()
      .from(users)
      .where(and(gt(users.id, after), sql`lower(${users.id}) LIKE lower(${containsPattern(query)}) ESCAPE '\\'`))
      .orderBy(asc(users.id))
      .limit(limit)
      .all()
      .map(userRecord);
  }

  async setBan(id: string, ban: { at: number; reason: string } | null): Promise<UserRecord | null> {
    this.connects.flush();
    const row = this.db
      .update(users)
      .set(ban ? { bannedAt: ban.at, banReason: ban.reason } : { bannedAt: null, banReason: null })
      .where(eq(users.id, id))
      .returning()
      .get();
    return row ? userRecord(row) : null;
  }

  // ---- privacy, contacts, blocks ------------------------------------------------------------

  async getPrivacy(list: string[]): Promise<Map<string, PrivacySettings>> {
    const out = new Map(list.map((u) => [u, { ...DEFAULT_PRIVACY }]));
    if (list.length > 0) for (const r of this.#privacyOf.all({ users: JSON.stringify(distinct(list)) })) out.set(r.user, privacyRecord(r));
    return out;
  }

  async setPrivacy(user: string, s: PrivacySettings): Promise<void> {
    const values = { lastSeen: s.lastSeen, online: s.online, groupAdd: s.groupAdd, readReceipts: s.readReceipts };
    this.db
      .insert(privacySettings)
      .values({ user, ...values })
      .onConflictDoUpdate({ target: privacySettings.user, set: values })
      .run();
  }

  async listContacts(owner: string): Promise<string[]> {
    return this.db.select({ c: contacts.contact }).from(contacts).where(eq(contacts.owner, owner)).orderBy(asc(contacts.contact)).all().map((r) => r.c);
  }

  async contactsAmong(owners: string[], contact: string): Promise<Set<string>> {
    if (owners.length === 0) return new Set();
    const rows = this.db.select({ o: contacts.owner }).from(contacts).where(and(eq(contacts.contact, contact), inArray(contacts.owner, distinct(owners)))).all();
    return new Set(rows.map((r) => r.o));
  }

  async addContacts(owner: string, list: string[], nowMs: number, max: number): Promise<void> {
    const wanted = distinct(list);
    if (wanted.length === 0) return;
    this.db.transaction((tx) => {
      const present = tx.select({ n: count() }).from(contacts).where(eq(contacts.owner, owner)).get()!.n;
      const already = tx.select({ n: count() }).from(contacts).where(and(eq(contacts.owner, owner), inArray(contacts.contact, wanted))).get()!.n;
      if (present + wanted.length - already > max) throw new ListFullError(max);
      tx.insert(contacts)
        .values(wanted.map((contact) => ({ owner, contact, createdAt: nowMs })))
        .onConflictDoNothing()
        .run();
    }, WRITE);
  }

  async removeContacts(owner: string, list: string[]): Promise<void> {
    if (list.length === 0) return;
    this.db.delete(contacts).where(and(eq(contacts.owner, owner), inArray(contacts.contact, distinct(list)))).run();
  }

  async listBlocked(blocker: string): Promise<string[]> {
    return this.#blockedBy.all({ blocker }).map((r) => r.b);
  }

  async block(blocker: string, blocked: string, nowMs: number, max: number): Promise<boolean> {
    return this.db.transaction((tx) => {
      const exists = tx.select({ b: blocks.blocked }).from(blocks).where(and(eq(blocks.blocker, blocker), eq(blocks.blocked, blocked))).get();
      if (exists) return false;
      if (tx.select({ n: count() }).from(blocks).where(eq(blocks.blocker, blocker)).get()!.n >= max) throw new ListFullError(max);
      tx.insert(blocks).values({ blocker, blocked, createdAt: nowMs }).run();
      return true;
    }, WRITE);
  }

  async unblock(blocker: string, blocked: string): Promise<boolean> {
    const rows = this.db.delete(blocks).where(and(eq(blocks.blocker, blocker), eq(blocks.blocked, blocked))).returning({ b: blocks.blocked }).all();
    return rows.length > 0;
  }

  async blockersAmong(blockers: string[], blocked: string): Promise<Set<string>> {
    if (blockers.length === 0) return new Set();
    const rows = this.db.select({ b: blocks.blocker }).from(blocks).where(and(eq(blocks.blocked, blocked), inArray(blocks.blocker, distinct(blockers)))).all();
    return new Set(rows.map((r) => r.b));
  }

  // ---- consent ------------------------------------------------------------------------------

  async recordConsent(conv: string, user: string, nowMs: number): Promise<boolean> {
    return this.db.insert(memberConsents).values({ convId: conv, user, at: nowMs }).onConflictDoNothing().returning().get() !== undefined;
  }

  async forgetConsent(conv: string, user: string): Promise<void> {
    this.db.delete(memberConsents).where(and(eq(memberConsents.convId, conv), eq(memberConsents.user, user))).run();
  }

  async sharedByChoice(user: string, others: string[], chosenBy: "user" | "other"): Promise<Set<string>> {
    if (others.length === 0) return new Set();
    const other = alias(members, "other");
    const chooser = chosenBy === "user" ? members : other;
    const rows = this.db
      .selectDistinct({ user: other.user })
      .from(members)
      .innerJoin(other, eq(other.convId, members.convId))
      .innerJoin(memberConsents, and(eq(memberConsents.convId, members.convId), eq(memberConsents.user, chooser.user)))
      .where(and(eq(members.user, user), inArray(other.user, distinct(others))))
      .all();
    return new Set(rows.map((r) => r.user));
  }

  // ---- invitations, links, join requests ----------------------------------------------------

  async invite(inv: InvitationRecord): Promise<boolean> {
    const row = this.db.insert(invitations).values({ convId: inv.conv, user: inv.user, by: inv.by, at: inv.at }).onConflictDoNothing().returning().get();
    return row !== undefined;
  }

  async listInvitations(user: string): Promise<InvitationRecord[]> {
    return this.db
      .select({ conv: invitations.convId, user: invitations.user, by: invitations.by, at: invitations.at })
      .from(invitations)
      .where(eq(invitations.user, user))
      .orderBy(asc(invitations.at), asc(invitations.convId))
      .all();
  }

  async takeInvitation(conv: string, user: string): Promise<InvitationRecord | null> {
    const row = this.db
      .delete(invitations)
      .where(and(eq(invitations.convId, conv), eq(invitations.user, user)))
      .returning({ conv: invitations.convId, user: invitations.user, by: invitations.by, at: invitations.at })
      .get();
    return row ?? null;
  }

  async createLink(link: InviteLinkRecord): Promise<void> {
    this.db.insert(inviteLinks).values({ token: link.token, convId: link.conv, by: link.by, at: link.at, approval: link.approval, revokedAt: link.revokedAt }).run();
  }

  async getLink(token: string): Promise<InviteLinkRecord | null> {
    return this.db.select(LINK).from(inviteLinks).where(eq(inviteLinks.token, token)).get() ?? null;
  }

  async listLinks(conv: string): Promise<InviteLinkRecord[]> {
    return this.db.select(LINK).from(inviteLinks).where(eq(inviteLinks.convId, conv)).orderBy(asc(inviteLinks.at), asc(inviteLinks.token)).all();
  }

  async revokeLink(conv: string, token: string, nowMs: number): Promise<boolean> {
    const rows = this.db
      .update(inviteLinks)
      .set({ revokedAt: nowMs })
      .where(and(eq(inviteLinks.token, token), eq(inviteLinks.convId, conv), isNull(inviteLinks.revokedAt)))
      .returning({ token: inviteLinks.token })
      .all();
    return rows.length > 0;
  }

  async requestJoin(req: JoinRequestRecord): Promise<boolean> {
    const row = this.db.insert(joinRequests).values({ convId: req.conv, user: req.user, token: req.token, at: req.at }).onConflictDoNothing().returning().get();
    return row !== undefined;
  }

  async listJoinRequests(conv: string): Promise<JoinRequestRecord[]> {
    return this.db.select(REQUEST).from(joinRequests).where(eq(joinRequests.convId, conv)).orderBy(asc(joinRequests.at), asc(joinRequests.user)).all();
  }

  async takeJoinRequest(conv: string, user: string): Promise<JoinRequestRecord | null> {
    return (
      this.db
        .delete(joinRequests)
        .where(and(eq(joinRequests.convId, conv), eq(joinRequests.user, user)))
        .returning(REQUEST)
        .get() ?? null
    );
  }

  // ---- reports, audit, removed messages -----------------------------------------------------

  async createReport(r: NewReport): Promise<number> {
    return this.db.insert(reports).values(reportRow(r)).returning({ id: reports.id }).get()!.id;
  }

  async listReports(before: number, limit: number): Promise<ReportRecord[]> {
    const where = before > 0 ? lt(reports.id, before) : undefined;
    return this.db.select().from(reports).where(where).orderBy(desc(reports.id)).limit(limit).all().map(reportRecord);
  }

  async getReport(id: number): Promise<ReportRecord | null> {
    const row = this.db.select().from(reports).where(eq(reports.id, id)).get();
    return row ? reportRecord(row) : null;
  }

  async appendAudit(e: NewAuditEntry): Promise<number> {
    return this.db.insert(auditLog).values(auditRow(e)).returning({ id: auditLog.id }).get()!.id;
  }

  async listAudit(before: number, limit: number): Promise<AuditEntry[]> {
    const where = before > 0 ? lt(auditLog.id, before) : undefined;
    return this.db.select().from(auditLog).where(where).orderBy(desc(auditLog.id)).limit(limit).all().map(auditRecord);
  }

  async removeMessage(r: RemovedMessageRecord): Promise<boolean> {
    const row = this.db
      .insert(removedMessages)
      .values({ convId: r.conv, seq: r.seq, sender: r.sender, media: r.media, by: r.by, reason: r.reason, at: r.at })
      .onConflictDoNothing()
      .returning()
      .get();
    return row !== undefined;
  }

  async removedIn(conv: string): Promise<RemovedMessageRecord[]> {
    return this.db.select(REMOVED).from(removedMessages).where(eq(removedMessages.convId, conv)).orderBy(asc(removedMessages.seq)).all();
  }

  async conversationsWithRemovals(): Promise<string[]> {
    return this.db.selectDistinct({ conv: removedMessages.convId }).from(removedMessages).all().map((r) => r.conv);
  }
}

const LINK = linkColumns(inviteLinks);
const REQUEST = requestColumns(joinRequests);
const REMOVED = removedColumns(removedMessages);
