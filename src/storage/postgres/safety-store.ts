// PostgreSQL SafetyStore: the user registry, privacy settings, contacts, blocks, group
// invitations, invite links, join requests, reports, the audit log and removed messages, on the
// metadata database every node of a cluster shares. Whatever must hold across nodes is one
// statement (an insert that does nothing on conflict, a DELETE ... RETURNING that only one caller
// gets), or, for the size limits of a user's lists, a transaction under a per-user advisory lock
// so that concurrent additions from several nodes take turns.

import { and, asc, count, desc, eq, inArray, isNull, lt, sql } from "drizzle-orm";
import { alias, type AnyPgColumn } from "drizzle-orm/pg-core";
import type { PostgresJsDatabase } from "drizzle-orm/postgres-js";
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
import type * as schema from "./schema.ts";
import { auditLog, blocks, contacts, invitations, inviteLinks, joinRequests, memberConsents, members, privacySettings, removedMessages, reports, users } from "./schema.ts";

type Orm = PostgresJsDatabase<typeof schema>;
type Tx = Parameters<Parameters<Orm["transaction"]>[0]>[0];

/** READ COMMITTED explicitly: a stricter server default would fail these with 40001 instead of waiting for the lock. */
const READ_COMMITTED = { isolationLevel: "read committed" } as const;

/** Byte order, as SQLite sorts text: the database's collation may sort case-insensitively, and pages would then differ between backends. */
const bytewise = (col: AnyPgColumn) => sql`${col} COLLATE "C"`;

/** Serializes one user's changes to one of their lists, on every node, until the transaction ends. */
async function lockList(tx: Tx, list: string, owner: string): Promise<void> {
  await tx.execute(sql`SELECT pg_advisory_xact_lock(hashtext(${list}), hashtext(${owner}))`);
}

export class PostgresSafetyStore implements SafetyStore {
  constructor(private readonly db: Orm) {}

  // ---- users --------------------------------------------------------------------------------

  async admitUser(id: string, origin: UserOrigin, nowMs: number): Promise<{ user: UserRecord; created: boolean }> {
    // The common case, a user seen before, is one read.
    const [known] = await this.db.select().from(users).where(eq(users.id, id));
    if (known) return { user: userRecord(known), created: false };
    const [created] = await this.db.insert(users).values({ id, createdAt: nowMs, origin }).onConflictDoNothing().returning();
    if (created) return { user: userRecord(created), created: true };
    // Another node registered them in between.
    const [again] = await this.db.select().from(users).where(eq(users.id, id));
    return { user: userRecord(again!), created: false };
  }

  async getUser(id: string): Promise<UserRecord | null> {
    const [row] = await this.db.select().from(users).where(eq(users.id, id));
    return row ? userRecord(row) : null;
  }

  async knownUsers(ids: string[]): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    const rows = await this.db.select({ id: users.id }).from(users).where(inArray(users.id, distinct(ids)));
    return new Set(rows.map((r) => r.id));
  }

  async searchUsers(query: string, after: string, limit: number): Promise<UserRecord[]> {
    const rows = await this.db
      .select()
      .from(users)
      .where(and(sql`${bytewise(users.id)} > ${after}`, sql`lower(${users.id}) LIKE lower(${containsPattern(query)}) ESCAPE '\\'`))
      .orderBy(bytewise(users.id))
      .limit(limit);
    return rows.map(userRecord);
  }

  async setBan(id: string, ban: { at: number; reason: string } | null): Promise<UserRecord | null> {
    const [row] = await this.db
      .update(users)
      .set(ban ? { bannedAt: ban.at, banReason: ban.reason } : { bannedAt: null, banReason: null })
      .where(eq(users.id, id))
      .returning();
    return row ? userRecord(row) : null;
  }

  // ---- privacy, contacts, blocks ------------------------------------------------------------

  async getPrivacy(list: string[]): Promise<Map<string, PrivacySettings>> {
    const out = new Map(list.map((u) => [u, { ...DEFAULT_PRIVACY }]));
    if (list.length > 0) for (const r of await this.db.select().from(privacySettings).where(inArray(privacySettings.user, distinct(list)))) out.set(r.user, privacyRecord(r));
    return out;
  }

  async setPrivacy(user: string, s: PrivacySettings): Promise<void> {
    const values = { lastSeen: s.lastSeen, online: s.online, groupAdd: s.groupAdd, readReceipts: s.readReceipts };
    await this.db
      .insert(privacySettings)
      .values({ user, ...values })
      .onConflictDoUpdate({ target: privacySettings.user, set: values });
  }

  async listContacts(owner: string): Promise<string[]> {
    const rows = await this.db.select({ c: contacts.contact }).from(contacts).where(eq(contacts.owner, owner)).orderBy(bytewise(contacts.contact));
    return rows.map((r) => r.c);
  }

  async contactsAmong(owners: string[], contact: string): Promise<Set<string>> {
    if (owners.length === 0) return new Set();
    const rows = await this.db.select({ o: contacts.owner }).from(contacts).where(and(eq(contacts.contact, contact), inArray(contacts.owner, distinct(owners))));
    return new Set(rows.map((r) => r.o));
  }

  async addContacts(owner: string, list: string[], nowMs: number, max: number): Promise<void> {
    const wanted = distinct(list);
    if (wanted.length === 0) return;
    await this.db.transaction(async (tx) => {
      await lockList(tx, "msgr.contacts", owner);
      const [present] = await tx.select({ n: count() }).from(contacts).where(eq(contacts.owner, owner));
      const [already] = await tx.select({ n: count() }).from(contacts).where(and(eq(contacts.owner, owner), inArray(contacts.contact, wanted)));
      if (present!.n + wanted.length - already!.n > max) throw new ListFullError(max);
      await tx
        .insert(contacts)
        .values(wanted.map((contact) => ({ owner, contact, createdAt: nowMs })))
        .onConflictDoNothing();
    }, READ_COMMITTED);
  }

  async removeContacts(owner: string, list: string[]): Promise<void> {
    if (list.length === 0) return;
    await this.db.delete(contacts).where(and(eq(contacts.owner, owner), inArray(contacts.contact, distinct(list))));
  }

  async listBlocked(blocker: string): Promise<string[]> {
    const rows = await this.db.select({ b: blocks.blocked }).from(blocks).where(eq(blocks.blocker, blocker)).orderBy(bytewise(blocks.blocked));
    return rows.map((r) => r.b);
  }

  async block(blocker: string, blocked: string, nowMs: number, max: number): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      await lockList(tx, "msgr.blocks", blocker);
      const [exists] = await tx.select({ b: blocks.blocked }).from(blocks).where(and(eq(blocks.blocker, blocker), eq(blocks.blocked, blocked)));
      if (exists) return false;
      const [n] = await tx.select({ n: count() }).from(blocks).where(eq(blocks.blocker, blocker));
      if (n!.n >= max) throw new ListFullError(max);
      await tx.insert(blocks).values({ blocker, blocked, createdAt: nowMs });
      return true;
    }, READ_COMMITTED);
  }

  async unblock(blocker: string, blocked: string): Promise<boolean> {
    const rows = await this.db.delete(blocks).where(and(eq(blocks.blocker, blocker), eq(blocks.blocked, blocked))).returning({ b: blocks.blocked });
    return rows.length > 0;
  }

  async blockersAmong(blockers: string[], blocked: string): Promise<Set<string>> {
    if (blockers.length === 0) return new Set();
    const rows = await this.db.select({ b: blocks.blocker }).from(blocks).where(and(eq(blocks.blocked, blocked), inArray(blocks.blocker, distinct(blockers))));
    return new Set(rows.map((r) => r.b));
  }

  // ---- consent ------------------------------------------------------------------------------

  async recordConsent(conv: string, user: string, nowMs: number): Promise<boolean> {
    const rows = await this.db.insert(memberConsents).values({ convId: conv, user, at: nowMs }).onConflictDoNothing().returning();
    return rows.length > 0;
  }

  async forgetConsent(conv: string, user: string): Promise<void> {
    await this.db.delete(memberConsents).where(and(eq(memberConsents.convId, conv), eq(memberConsents.user, user)));
  }

  async sharedByChoice(user: string, others: string[], chosenBy: "user" | "other"): Promise<Set<string>> {
    if (others.length === 0) return new Set();
    const other = alias(members, "other");
    const chooser = chosenBy === "user" ? members : other;
    const rows = await this.db
      .selectDistinct({ user: other.user })
      .from(members)
      .innerJoin(other, eq(other.convId, members.convId))
      .innerJoin(memberConsents, and(eq(memberConsents.convId, members.convId), eq(memberConsents.user, chooser.user)))
      .where(and(eq(members.user, user), inArray(other.user, distinct(others))));
    return new Set(rows.map((r) => r.user));
  }

  // ---- invitations, links, join requests ----------------------------------------------------

  async invite(inv: InvitationRecord): Promise<boolean> {
    const rows = await this.db.insert(invitations).values({ convId: inv.conv, user: inv.user, by: inv.by, at: inv.at }).onConflictDoNothing().returning();
    return rows.length > 0;
  }

  async listInvitations(user: string): Promise<InvitationRecord[]> {
    return this.db
      .select({ conv: invitations.convId, user: invitations.user, by: invitations.by, at: invitations.at })
      .from(invitations)
      .where(eq(invitations.user, user))
      .orderBy(asc(invitations.at), bytewise(invitations.convId));
  }

  async takeInvitation(conv: string, user: string): Promise<InvitationRecord | null> {
    const [row] = await this.db
      .delete(invitations)
      .where(and(eq(invitations.convId, conv), eq(invitations.user, user)))
      .returning({ conv: invitations.convId, user: invitations.user, by: invitations.by, at: invitations.at });
    return row ?? null;
  }

  async createLink(link: InviteLinkRecord): Promise<void> {
    await this.db.insert(inviteLinks).values({ token: link.token, convId: link.conv, by: link.by, at: link.at, approval: link.approval, revokedAt: link.revokedAt });
  }

  async getLink(token: string): Promise<InviteLinkRecord | null> {
    const [row] = await this.db.select(LINK).from(inviteLinks).where(eq(inviteLinks.token, token));
    return row ?? null;
  }

  async listLinks(conv: string): Promise<InviteLinkRecord[]> {
    return this.db.select(LINK).from(inviteLinks).where(eq(inviteLinks.convId, conv)).orderBy(asc(inviteLinks.at), bytewise(inviteLinks.token));
  }

  async revokeLink(conv: string, token: string, nowMs: number): Promise<boolean> {
    const rows = await this.db
      .update(inviteLinks)
      .set({ revokedAt: nowMs })
      .where(and(eq(inviteLinks.token, token), eq(inviteLinks.convId, conv), isNull(inviteLinks.revokedAt)))
      .returning({ token: inviteLinks.token });
    return rows.length > 0;
  }

  async requestJoin(req: JoinRequestRecord): Promise<boolean> {
    const rows = await this.db.insert(joinRequests).values({ convId: req.conv, user: req.user, token: req.token, at: req.at }).onConflictDoNothing().returning();
    return rows.length > 0;
  }

  async listJoinRequests(conv: string): Promise<JoinRequestRecord[]> {
    return this.db.select(REQUEST).from(joinRequests).where(eq(joinRequests.convId, conv)).orderBy(asc(joinRequests.at), bytewise(joinRequests.user));
  }

  async takeJoinRequest(conv: string, user: string): Promise<JoinRequestRecord | null> {
    const [row] = await this.db
      .delete(joinRequests)
      .where(and(eq(joinRequests.convId, conv), eq(joinRequests.user, user)))
      .returning(REQUEST);
    return row ?? null;
  }

  // ---- reports, audit, removed messages -----------------------------------------------------

  async createReport(r: NewReport): Promise<number> {
    const [row] = await this.db.insert(reports).values(reportRow(r)).returning({ id: reports.id });
    return row!.id;
  }

  async listReports(before: number, limit: number): Promise<ReportRecord[]> {
    const where = before > 0 ? lt(reports.id, before) : undefined;
    const rows = await this.db.select().from(reports).where(where).orderBy(desc(reports.id)).limit(limit);
    return rows.map(reportRecord);
  }

  async getReport(id: number): Promise<ReportRecord | null> {
    const [row] = await this.db.select().from(reports).where(eq(reports.id, id));
    return row ? reportRecord(row) : null;
  }

  async appendAudit(e: NewAuditEntry): Promise<number> {
    const [row] = await this.db.insert(auditLog).values(auditRow(e)).returning({ id: auditLog.id });
    return row!.id;
  }

  async listAudit(before: number, limit: number): Promise<AuditEntry[]> {
    const where = before > 0 ? lt(auditLog.id, before) : undefined;
    const rows = await this.db.select().from(auditLog).where(where).orderBy(desc(auditLog.id)).limit(limit);
    return rows.map(auditRecord);
  }

  async removeMessage(r: RemovedMessageRecord): Promise<boolean> {
    const rows = await this.db
      .insert(removedMessages)
      .values({ convId: r.conv, seq: r.seq, sender: r.sender, media: r.media, by: r.by, reason: r.reason, at: r.at })
      .onConflictDoNothing()
      .returning();
    return rows.length > 0;
  }

  async removedIn(conv: string): Promise<RemovedMessageRecord[]> {
    return this.db.select(REMOVED).from(removedMessages).where(eq(removedMessages.convId, conv)).orderBy(asc(removedMessages.seq));
  }

  async conversationsWithRemovals(): Promise<string[]> {
    const rows = await this.db.selectDistinct({ conv: removedMessages.convId }).from(removedMessages);
    return rows.map((r) => r.conv);
  }
}

const LINK = linkColumns(inviteLinks);
const REQUEST = requestColumns(joinRequests);
const REMOVED = removedColumns(removedMessages);
