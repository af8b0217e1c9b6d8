// PostgreSQL MetadataStore: devices, conversations, membership, media and push subscriptions
// through drizzle, shared by all the nodes of a cluster. These calls are far less frequent than message appends, so the query
// builder's cost does not matter here.
//
// Membership changes run in READ COMMITTED transactions that first lock the conversation's row
// (SELECT ... FOR UPDATE), then read its members, check the invariant and write. The row lock is a
// per-conversation mutex that every node's membership change takes, so the check always sees the
// members as the previous change left them. Why not lock the member rows instead: FOR UPDATE on
// them does not stop another transaction from inserting a new member (a phantom), so two
// concurrent additions could both pass the size check. Why not SERIALIZABLE: it would be correct
// too, but conflicting changes fail with 40001 and must be retried, and SSI's page-level predicate
// locks also fail unrelated changes that touch nearby rows; the lock makes them simply wait their
// turn, with no retry loop. A change waits for that lock first, then for at most the one member row
// it updates or deletes, so no wait cycle can form between changes, nor with saveCursors.

import { and, asc, count, desc, eq, gt, gte, inArray, isNotNull, isNull, lte, min, sql } from "drizzle-orm";
import type { PostgresJsDatabase } from "drizzle-orm/postgres-js";
import type { Sql } from "postgres";
import type { HiddenMessages } from "../../proto/types.ts";
import {
  DEFAULT_CHAT_SETTINGS,
  type ChatSettingsRecord,
  type ConversationRecord,
  type CursorUpdate,
  type DeviceAdmission,
  type DeviceRecord,
  type MediaRecord,
  type MemberRecord,
  type MetadataStore,
  type PushSubscriptionRecord,
  type UploadQuota,
} from "../types.ts";
import { chatSettingsRecord, conversationRecord, groupHidden, mediaRecord, mediaRow, memberColumns, memberRow } from "../rows.ts";
import { checkAdminChange, checkRemoval, membersToAdd } from "../membership-rules.ts";
import { checkUploadQuota, utcDay } from "../upload-quota.ts";
import type * as schema from "./schema.ts";
import { chatSettings, conversations, devices, directPairs, hiddenMessages, media, mediaUsage, members, pushSubscriptions } from "./schema.ts";

/** What drizzle() returns: the query builder, plus the postgres.js pool it runs on. */
type Orm = PostgresJsDatabase<typeof schema> & { $client: Sql };
type Tx = Parameters<Parameters<Orm["transaction"]>[0]>[0];

/**
 * For transactions whose correctness depends on READ COMMITTED (each statement sees what was
 * committed before it started): set explicitly, since a server's default may be stricter, under
 * which they would read stale members or fail with serialization errors instead of waiting.
 */
const READ_COMMITTED = { isolationLevel: "read committed" } as const;
/** The same for a transaction begun through postgres.js. */
const READ_COMMITTED_PG = "isolation level read committed";

/**
 * Locks the conversation's row for the rest of the transaction, then reads its members. Two
 * statements on purpose: in READ COMMITTED the second takes its snapshot after the lock is held,
 * so it sees every change committed by the transaction that held the lock before. A conversation
 * that does not exist has no members (the foreign key cascades), so there is nothing to lock.
 */
async function lockMembers(tx: Tx, conv: string): Promise<{ user: string; admin: boolean }[]> {
  await tx.select({ id: conversations.id }).from(conversations).where(eq(conversations.id, conv)).for("update");
  return tx.select({ user: members.user, admin: members.admin }).from(members).where(eq(members.convId, conv));
}

export class PostgresMetadataStore implements MetadataStore {
  readonly #db: Orm;

  constructor(db: Orm) {
    this.#db = db;
  }

  async touchDevice(user: string, device: string, nowMs: number, maxDevices: number): Promise<DeviceAdmission> {
    const pg = this.#db.$client;
    // The common case, a device seen before, is one statement outside any transaction.
    const [row] = await pg<{ revoked: boolean }[]>`
      UPDATE devices SET last_seen = greatest(last_seen, ${nowMs}) WHERE "user" = ${user} AND device = ${device}
      RETURNING revoked_at IS NOT NULL AS revoked`;
    if (row) return row.revoked ? "revoked" : "known";
    // A new device: count and insert under a per-user lock, so concurrent first connections of
    // one user (on any node) take their turn and cannot both pass the cap.
    return pg.begin(READ_COMMITTED_PG, async (tx) => {
      await tx`SELECT pg_advisory_xact_lock(hashtext('msgr.devices'), hashtext(${user}))`;
      const [again] = await tx<{ revoked: boolean }[]>`
        UPDATE devices SET last_seen = greatest(last_seen, ${nowMs}) WHERE "user" = ${user} AND device = ${device}
        RETURNING revoked_at IS NOT NULL AS revoked`;
      if (again) return again.revoked ? "revoked" : "known";
      const [active] = await tx<{ n: number }[]>`SELECT count(*)::int AS n FROM devices WHERE "user" = ${user} AND revoked_at IS NULL`;
      if (active!.n >= maxDevices) return "too-many";
      await tx`INSERT INTO devices ("user", device, first_seen, last_seen) VALUES (${user}, ${device}, ${nowMs}, ${nowMs})`;
      return "new";
    }) as Promise<DeviceAdmission>;
  }

  async listDevices(user: string): Promise<DeviceRecord[]> {
    const rows = await this.#db.select().from(devices).where(eq(devices.user, user)).orderBy(devices.firstSeen, devices.device);
    return rows.map((r) => ({
      user: r.user,
      device: r.device,
      firstSeen: r.firstSeen,
      lastSeen: r.lastSeen,
      revoked: r.revokedAt !== null,
    }));
  }

  async revokeDevice(user: string, device: string, nowMs: number): Promise<boolean> {
    const rows = await this.#db
      .update(devices)
      // coalesce: revoking again keeps the original revocation time.
      .set({ revokedAt: sql`coalesce(${devices.revokedAt}, ${nowMs})` })
      .where(and(eq(devices.user, user), eq(devices.device, device)))
      .returning({ user: devices.user });
    return rows.length > 0;
  }

  async isDeviceRevoked(user: string, device: string): Promise<boolean> {
    const [row] = await this.#db
      .select({ revokedAt: devices.revokedAt })
      .from(devices)
      .where(and(eq(devices.user, user), eq(devices.device, device)));
    return row?.revokedAt != null;
  }

  async createConversation(conv: ConversationRecord, memberList: MemberRecord[]): Promise<void> {
    await this.#db.transaction(async (tx) => {
      await tx.insert(conversations).values(conv);
      if (memberList.length > 0) await tx.insert(members).values(memberList.map((m) => memberRow(conv.id, m)));
    });
  }

  async openDirect(conv: ConversationRecord, a: string, b: string): Promise<{ id: string; created: boolean }> {
    const [userA, userB] = a < b ? [a, b] : [b, a];
    return this.#db.transaction(async (tx) => {
      // The pair's primary key arbitrates: only the caller whose insert lands creates the
      // conversation. A concurrent insert of the same pair (any node) waits for the first
      // transaction to end, then does nothing; the SELECT after it, a new snapshot in READ
      // COMMITTED, reads the winner's id.
      const won = await tx.insert(directPairs).values({ userA, userB, convId: conv.id }).onConflictDoNothing().returning();
      if (won.length === 0) {
        const [existing] = await tx
          .select({ convId: directPairs.convId })
          .from(directPairs)
          .where(and(eq(directPairs.userA, userA), eq(directPairs.userB, userB)));
        if (!existing) throw new Error(`direct pair ${userA}/${userB} vanished inside its transaction`);
        return { id: existing.convId, created: false };
      }
      await tx.insert(conversations).values(conv);
      const both = userA === userB ? [userA] : [userA, userB];
      await tx.insert(members).values(both.map((user) => memberRow(conv.id, { user, admin: false, joinedSeq: 1, delivered: 0, read: 0 })));
      return { id: conv.id, created: true };
    }, READ_COMMITTED);
  }

  async getConversation(id: string): Promise<ConversationRecord | null> {
    const [row] = await this.#db.select().from(conversations).where(eq(conversations.id, id));
    return row ? conversationRecord(row) : null;
  }

  async renameConversation(id: string, title: string): Promise<void> {
    await this.#db.update(conversations).set({ title }).where(eq(conversations.id, id));
  }

  async setConversationTimer(id: string, seconds: number): Promise<void> {
    await this.#db.update(conversations).set({ timer: seconds }).where(eq(conversations.id, id));
  }

  async listMembers(conv: string): Promise<MemberRecord[]> {
    return this.#db
      .select(memberColumns(members))
      .from(members)
      .where(eq(members.convId, conv))
      .orderBy(members.joinedSeq, members.user);
  }

  async addMembers(conv: string, memberList: MemberRecord[], maxMembers: number): Promise<string[]> {
    return this.#db.transaction(async (tx) => {
      const present = await lockMembers(tx, conv);
      const fresh = membersToAdd(present, memberList, maxMembers);
      if (fresh.length > 0) await tx.insert(members).values(fresh.map((m) => memberRow(conv, m)));
      return fresh.map((m) => m.user);
    }, READ_COMMITTED);
  }

  async removeMember(conv: string, user: string): Promise<void> {
    await this.#db.transaction(async (tx) => {
      const rows = await lockMembers(tx, conv);
      checkRemoval(rows, user);
      await tx.delete(members).where(and(eq(members.convId, conv), eq(members.user, user)));
    }, READ_COMMITTED);
  }

  async setAdmin(conv: string, user: string, admin: boolean): Promise<void> {
    await this.#db.transaction(async (tx) => {
      const rows = await lockMembers(tx, conv);
      checkAdminChange(rows, user, admin);
      await tx.update(members).set({ admin }).where(and(eq(members.convId, conv), eq(members.user, user)));
    }, READ_COMMITTED);
  }

  async listUserConversations(user: string): Promise<{ conv: string; joinedSeq: number }[]> {
    return this.#db.select({ conv: members.convId, joinedSeq: members.joinedSeq }).from(members).where(eq(members.user, user));
  }

  async saveCursors(updates: CursorUpdate[]): Promise<void> {
    if (updates.length === 0) return;
    // Merge repeats of a member (keeping the highest markers), then sort: every node then locks
    // the member rows it raises in the same order, so overlapping batches wait instead of
    // deadlocking. drizzle cannot pipeline, so the updates go through postgres.js: one prepared
    // statement per member, all sent at once and run in order, in one transaction (one commit).
    const merged = new Map<string, CursorUpdate>();
    for (const u of updates) {
      const key = `${u.conv}\u0000${u.user}`;
      const prev = merged.get(key);
      merged.set(key, prev ? { ...u, delivered: Math.max(prev.delivered, u.delivered), read: Math.max(prev.read, u.read) } : u);
    }
    const sorted = [...merged.values()].sort((x, y) => (x.conv < y.conv ? -1 : x.conv > y.conv ? 1 : x.user < y.user ? -1 : x.user > y.user ? 1 : 0));
    await this.#db.$client.begin(READ_COMMITTED_PG, (tx) =>
      sorted.map(
        (u) => tx`
          UPDATE members SET delivered = GREATEST(delivered, ${u.delivered}), read = GREATEST(read, ${u.read})
          WHERE conv_id = ${u.conv} AND "user" = ${u.user}`,
      ),
    );
  }

  async createMedia(m: MediaRecord): Promise<void> {
    await this.#db.insert(media).values(mediaRow(m));
  }

  async reserveUpload(m: MediaRecord, quota: UploadQuota, nowMs: number): Promise<void> {
    // The owner's usage row is a per-owner mutex, as the conversation row is for membership (see
    // the top of this file): make sure it exists, lock it, and only then count the owner's slots,
    // in a statement whose READ COMMITTED snapshot is taken after the lock is held, so it sees
    // every slot committed by the reservation that held the lock before.
    await this.#db.transaction(async (tx) => {
      await tx.insert(mediaUsage).values({ owner: m.owner, day: utcDay(nowMs), bytes: 0 }).onConflictDoNothing();
      const [usage] = await tx.select({ day: mediaUsage.day, bytes: mediaUsage.bytes }).from(mediaUsage).where(eq(mediaUsage.owner, m.owner)).for("update");
      const [slots] = await tx
        .select({ pending: count(), firstExpiry: min(media.expiresAt) })
        .from(media)
        .where(and(eq(media.owner, m.owner), isNull(media.convId), gt(media.expiresAt, nowMs)));
      const next = checkUploadQuota(
        { pending: slots?.pending ?? 0, firstExpiry: slots?.firstExpiry ?? null, day: usage?.day ?? null, bytes: usage?.bytes ?? 0 },
        m.size,
        quota,
        nowMs,
      );
      await tx.insert(media).values(mediaRow(m));
      await tx.update(mediaUsage).set(next).where(eq(mediaUsage.owner, m.owner));
    }, READ_COMMITTED);
  }

  async getMedia(id: string): Promise<MediaRecord | null> {
    const [row] = await this.#db.select().from(media).where(eq(media.id, id));
    return row ? mediaRecord(row) : null;
  }

  async attachMedia(id: string, owner: string, conv: string, objectKey: string, nowMs: number): Promise<boolean> {
    // One conditional statement: concurrent claims (from any node) queue on the row lock, and in
    // READ COMMITTED each one re-checks the condition against the row as the previous claim left
    // it, so only the first wins. READ COMMITTED explicitly: under a stricter server default the
    // losers would fail with 40001 instead of returning false.
    return this.#db.transaction(async (tx) => {
      const rows = await tx
        .update(media)
        .set({ convId: conv, objectKey })
        .where(and(eq(media.id, id), eq(media.owner, owner), isNull(media.convId), gt(media.expiresAt, nowMs)))
        .returning({ id: media.id });
      return rows.length > 0;
    }, READ_COMMITTED);
  }

  async setMediaThumb(id: string, thumb: string): Promise<void> {
    await this.#db.update(media).set({ thumb }).where(eq(media.id, id));
  }

  async listExpiredUploads(nowMs: number, limit: number): Promise<MediaRecord[]> {
    const rows = await this.#db.select().from(media).where(lte(media.expiresAt, nowMs)).orderBy(media.expiresAt, media.id).limit(limit);
    return rows.map(mediaRecord);
  }

  async finishExpiredUploads(ids: string[], nowMs: number): Promise<void> {
    if (ids.length === 0) return;
    // Each statement re-checks attachment on the row as it stands when it gets there: a row
    // attached by a concurrent send is never deleted. READ COMMITTED for the same reason as attachMedia.
    const expired = and(inArray(media.id, ids), lte(media.expiresAt, nowMs));
    await this.#db.transaction(async (tx) => {
      await tx.delete(media).where(and(expired, isNull(media.convId)));
      await tx.update(media).set({ expiresAt: null }).where(and(expired, isNotNull(media.convId)));
    }, READ_COMMITTED);
  }

  async scheduleMediaDeletion(ids: string[], atMs: number): Promise<void> {
    if (ids.length === 0) return;
    await this.#db
      .update(media)
      .set({ deleteAt: sql`least(coalesce(${media.deleteAt}, ${atMs}), ${atMs})` })
      .where(inArray(media.id, ids));
  }

  async listMediaDue(nowMs: number, limit: number): Promise<MediaRecord[]> {
    const rows = await this.#db.select().from(media).where(lte(media.deleteAt, nowMs)).orderBy(media.deleteAt, media.id).limit(limit);
    return rows.map(mediaRecord);
  }

  async deleteMediaRecords(ids: string[]): Promise<void> {
    if (ids.length > 0) await this.#db.delete(media).where(inArray(media.id, ids));
  }

  // ---- ChatSettingsStore --------------------------------------------------------------------

  async listChatSettings(user: string): Promise<ChatSettingsRecord[]> {
    const rows = await this.#db
      .select({ settings: chatSettings })
      .from(chatSettings)
      .innerJoin(members, and(eq(members.convId, chatSettings.convId), eq(members.user, chatSettings.user)))
      .where(eq(chatSettings.user, user))
      .orderBy(chatSettings.convId);
    return rows.map((r) => chatSettingsRecord(r.settings));
  }

  async getChatSettings(user: string, conv: string): Promise<ChatSettingsRecord> {
    const [row] = await this.#db.select().from(chatSettings).where(and(eq(chatSettings.user, user), eq(chatSettings.convId, conv)));
    return row ? chatSettingsRecord(row) : { conv, ...DEFAULT_CHAT_SETTINGS };
  }

  async saveChatSettings(user: string, s: ChatSettingsRecord): Promise<void> {
    const values = { muteUntil: s.muteUntil, archived: s.archived, pinned: s.pinned, unread: s.unread };
    await this.#db
      .insert(chatSettings)
      .values({ user, convId: s.conv, ...values })
      .onConflictDoUpdate({ target: [chatSettings.user, chatSettings.convId], set: values });
  }

  async mutedAmong(conv: string, users: string[], nowMs: number): Promise<Set<string>> {
    if (users.length === 0) return new Set();
    const rows = await this.#db
      .select({ user: chatSettings.user })
      .from(chatSettings)
      .where(and(eq(chatSettings.convId, conv), gt(chatSettings.muteUntil, nowMs), inArray(chatSettings.user, users)));
    return new Set(rows.map((r) => r.user));
  }

  async hideMessages(user: string, conv: string, seqs: number[], nowMs: number): Promise<void> {
    if (seqs.length === 0) return;
    await this.#db
      .insert(hiddenMessages)
      .values(seqs.map((seq) => ({ user, convId: conv, seq, at: nowMs })))
      .onConflictDoNothing();
  }

  async hiddenSeqs(user: string, conv: string, fromSeq: number, toSeq: number): Promise<number[]> {
    const rows = await this.#db
      .select({ seq: hiddenMessages.seq })
      .from(hiddenMessages)
      .where(and(eq(hiddenMessages.user, user), eq(hiddenMessages.convId, conv), gte(hiddenMessages.seq, fromSeq), lte(hiddenMessages.seq, toSeq)))
      .orderBy(asc(hiddenMessages.seq));
    return rows.map((r) => r.seq);
  }

  async hiddenConversations(user: string): Promise<string[]> {
    const rows = await this.#db.selectDistinct({ conv: hiddenMessages.convId }).from(hiddenMessages).where(eq(hiddenMessages.user, user));
    return rows.map((r) => r.conv);
  }

  async listHidden(user: string, perConv: number): Promise<HiddenMessages[]> {
    // The newest `perConv` of each conversation the user still belongs to, in one query.
    const rows = await this.#db.execute<{ conv_id: string; seq: string }>(sql`
      SELECT conv_id, seq FROM (
        SELECT h.conv_id, h.seq, row_number() OVER (PARTITION BY h.conv_id ORDER BY h.seq DESC) AS n
        FROM ${hiddenMessages} h JOIN ${members} m ON m.conv_id = h.conv_id AND m."user" = h."user"
        WHERE h."user" = ${user}
      ) ranked WHERE n <= ${perConv} ORDER BY conv_id, seq`);
    return groupHidden([...rows].map((r) => ({ conv: r.conv_id, seq: Number(r.seq) })));
  }

  async savePushSubscription(sub: PushSubscriptionRecord): Promise<void> {
    await this.#db
      .insert(pushSubscriptions)
      .values(sub)
      .onConflictDoUpdate({
        target: pushSubscriptions.endpoint,
        set: { user: sub.user, device: sub.device, p256dh: sub.p256dh, auth: sub.auth },
      });
  }

  async listPushSubscriptions(user: string): Promise<PushSubscriptionRecord[]> {
    return this.#db
      .select({
        user: pushSubscriptions.user,
        device: pushSubscriptions.device,
        endpoint: pushSubscriptions.endpoint,
        p256dh: pushSubscriptions.p256dh,
        auth: pushSubscriptions.auth,
        createdAt: pushSubscriptions.createdAt,
      })
      .from(pushSubscriptions)
      .where(eq(pushSubscriptions.user, user))
      .orderBy(pushSubscriptions.createdAt, pushSubscriptions.endpoint);
  }

  async deletePushSubscription(endpoint: string): Promise<void> {
    await this.#db.delete(pushSubscriptions).where(eq(pushSubscriptions.endpoint, endpoint));
  }

  /** Nothing to release: the shared pool is closed by openPostgres's close(). */
  async close(): Promise<void> {}
}
