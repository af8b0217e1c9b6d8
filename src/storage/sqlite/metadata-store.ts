// SQLite MetadataStore: devices, conversations, membership, media and push subscriptions through
// drizzle. These calls are
// far less frequent than message appends, so the query builder's cost does not matter here.
// bun:sqlite is synchronous, so every method completes before it returns its promise.

import { and, asc, count, desc, eq, gt, gte, inArray, isNotNull, isNull, lte, min, sql } from "drizzle-orm";
import type { Database } from "bun:sqlite";
import type { BunSQLiteDatabase } from "drizzle-orm/bun-sqlite";
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
import { checkAdminChange, checkRemoval, membersToAdd, type MemberRole } from "../membership-rules.ts";
import { checkUploadQuota } from "../upload-quota.ts";
import type { ConnectWriter } from "./connect-writer.ts";
import * as schema from "./schema.ts";
import { chatSettings, conversations, devices, directPairs, hiddenMessages, media, mediaUsage, members, pushSubscriptions } from "./schema.ts";

type Orm = BunSQLiteDatabase<typeof schema>;

/** Write transactions take the write lock up front so they never fail upgrading a read lock. */
const WRITE = { behavior: "immediate" } as const;

/** Who is in a conversation and who is admin, read inside the caller's write transaction. */
function roles(tx: Pick<BunSQLiteDatabase<typeof schema>, "select">, conv: string): MemberRole[] {
  return tx.select({ user: members.user, admin: members.admin }).from(members).where(eq(members.convId, conv)).all();
}

export class SqliteMetadataStore implements MetadataStore {
  readonly #db: Orm;

  /** Receipts are the hottest write after messages: one prepared statement, not a rebuilt query. */
  readonly #raiseCursors: (updates: CursorUpdate[]) => void;
  /** Every connection lists its user's conversations: prepared once. */
  readonly #userConversations;
  /** Every connection touches its device: prepared statements too. */
  readonly #touchDevice: (user: string, device: string, nowMs: number, maxDevices: number) => DeviceAdmission;
  /** Where a connection's device registration or last-seen time waits for the batch; reads of `devices` flush it first. */
  readonly #connects: ConnectWriter;
  /**
   * Every message to a member with no device online asks who muted the conversation and, unless
   * cached, the member's push subscriptions: prepared once. Built per call, each cost about
   * 200 µs (drizzle's builder and SQLite compiling the statement), more than the rest of the
   * message's path.
   */
  readonly #mutedAmong: (conv: string, nowMs: number, users: string[]) => { user: string }[];
  readonly #pushSubscriptionsOf;
  /** Every device that resumes a backlog reads which conversations its user hid messages in: prepared too. */
  readonly #hiddenConversations;
  /** A conversation actor starting (first use, or after idle passivation) reads its record and members. */
  readonly #conversationById;
  readonly #membersOf;

  constructor(
    db: Orm,
    raw: Database,
    connects: ConnectWriter,
    /** Told after each receipts' commit (the checkpointer watches the WAL grow). */
    afterCommit: () => void = () => {},
  ) {
    this.#db = db;
    this.#userConversations = db
      .select({ conv: members.convId, joinedSeq: members.joinedSeq })
      .from(members)
      .where(eq(members.user, sql.placeholder("user")))
      .prepare();
    // The users as one JSON array parameter, so that one statement serves any number of them;
    // CROSS JOIN makes SQLite walk the list and look each user up by the primary key, rather than
    // scan every muted member of the conversation for each.
    const muted = raw.query<{ user: string }, [string, number, string]>(
      `SELECT s."user" AS user FROM json_each(?3) AS j CROSS JOIN chat_settings AS s ON s."user" = j.value AND s.conv_id = ?1 WHERE s.mute_until > ?2`,
    );
    this.#mutedAmong = (conv: string, nowMs: number, users: string[]) => muted.all(conv, nowMs, JSON.stringify(users));
    this.#conversationById = db.select().from(conversations).where(eq(conversations.id, sql.placeholder("id"))).prepare();
    this.#membersOf = db
      .select(memberColumns(members))
      .from(members)
      .where(eq(members.convId, sql.placeholder("conv")))
      .orderBy(members.joinedSeq, members.user)
      .prepare();
    this.#hiddenConversations = db
      .selectDistinct({ conv: hiddenMessages.convId })
      .from(hiddenMessages)
      .where(eq(hiddenMessages.user, sql.placeholder("user")))
      .prepare();
    // Every column of the table is a field of PushSubscriptionRecord.
    this.#pushSubscriptionsOf = db
      .select()
      .from(pushSubscriptions)
      .where(eq(pushSubscriptions.user, sql.placeholder("user")))
      .orderBy(pushSubscriptions.createdAt, pushSubscriptions.endpoint)
      .prepare();
    const raise = raw.query<never, [number, number, string, string]>(
      `UPDATE members SET delivered = max(delivered, ?1), "read" = max("read", ?2) WHERE conv_id = ?3 AND "user" = ?4`,
    );
    const raiseAll = raw.transaction((updates: CursorUpdate[]) => {
      for (const u of updates) raise.run(u.delivered, u.read, u.conv, u.user);
    }).immediate;
    this.#raiseCursors = (updates) => {
      raiseAll(updates);
      afterCommit();
    };

    // A connection's device is reads here and a row or a last-seen time for the batch written
    // after the turn (connect-writer.ts): this one thread is the database's only writer, so the
    // count of a user's devices, pending ones included, cannot be overtaken.
    this.#connects = connects;
    const known = raw.query<{ revoked: number }, [string, string]>(`SELECT revoked_at IS NOT NULL AS revoked FROM devices WHERE "user" = ?1 AND device = ?2`);
    const active = raw.query<{ n: number }, [string]>(`SELECT count(*) AS n FROM devices WHERE "user" = ?1 AND revoked_at IS NULL`);
    this.#touchDevice = (user, device, nowMs, maxDevices) => {
      const row = known.get(user, device);
      if (row) {
        if (row.revoked) return "revoked";
        connects.seen(user, device, nowMs);
        return "known";
      }
      if (connects.pendingDevice(user, device, nowMs)) return "known";
      if (active.get(user)!.n + connects.pendingDevicesOf(user) >= maxDevices) return "too-many";
      connects.registerDevice(user, device, nowMs);
      return "new";
    };
  }

  touchDevice(user: string, device: string, nowMs: number, maxDevices: number): DeviceAdmission {
    return this.#touchDevice(user, device, nowMs, maxDevices);
  }

  async listDevices(user: string): Promise<DeviceRecord[]> {
    this.#connects.flush();
    const rows = this.#db.select().from(devices).where(eq(devices.user, user)).orderBy(devices.firstSeen, devices.device).all();
    return rows.map((r) => ({
      user: r.user,
      device: r.device,
      firstSeen: r.firstSeen,
      lastSeen: r.lastSeen,
      revoked: r.revokedAt !== null,
    }));
  }

  async revokeDevice(user: string, device: string, nowMs: number): Promise<boolean> {
    this.#connects.flush();
    const rows = this.#db
      .update(devices)
      // coalesce: revoking again keeps the original revocation time.
      .set({ revokedAt: sql`coalesce(${devices.revokedAt}, ${nowMs})` })
      .where(and(eq(devices.user, user), eq(devices.device, device)))
      .returning({ user: devices.user })
      .all();
    return rows.length > 0;
  }

  async isDeviceRevoked(user: string, device: string): Promise<boolean> {
    this.#connects.flush();
    const row = this.#db
      .select({ revokedAt: devices.revokedAt })
      .from(devices)
      .where(and(eq(devices.user, user), eq(devices.device, device)))
      .get();
    return row?.revokedAt != null;
  }

  async createConversation(conv: ConversationRecord, memberList: MemberRecord[]): Promise<void> {
    this.#db.transaction((tx) => {
      tx.insert(conversations).values(conv).run();
      if (memberList.length > 0) tx.insert(members).values(memberList.map((m) => memberRow(conv.id, m))).run();
    }, WRITE);
  }

  async openDirect(conv: ConversationRecord, a: string, b: string): Promise<{ id: string; created: boolean }> {
    const [userA, userB] = a < b ? [a, b] : [b, a];
    return this.#db.transaction((tx) => {
      // The pair's primary key arbitrates: only the caller whose insert lands creates the
      // conversation; everyone else reads the winner's id.
      const won = tx.insert(directPairs).values({ userA, userB, convId: conv.id }).onConflictDoNothing().returning().get();
      if (!won) {
        const existing = tx
          .select({ convId: directPairs.convId })
          .from(directPairs)
          .where(and(eq(directPairs.userA, userA), eq(directPairs.userB, userB)))
          .get();
        if (!existing) throw new Error(`direct pair ${userA}/${userB} vanished inside its transaction`);
        return { id: existing.convId, created: false };
      }
      tx.insert(conversations).values(conv).run();
      const both = userA === userB ? [userA] : [userA, userB];
      tx.insert(members)
        .values(both.map((user) => memberRow(conv.id, { user, admin: false, joinedSeq: 1, delivered: 0, read: 0 })))
        .run();
      return { id: conv.id, created: true };
    }, WRITE);
  }

  async getConversation(id: string): Promise<ConversationRecord | null> {
    const row = this.#conversationById.get({ id });
    return row ? conversationRecord(row) : null;
  }

  async renameConversation(id: string, title: string): Promise<void> {
    this.#db.update(conversations).set({ title }).where(eq(conversations.id, id)).run();
  }

  async setConversationTimer(id: string, seconds: number): Promise<void> {
    this.#db.update(conversations).set({ timer: seconds }).where(eq(conversations.id, id)).run();
  }

  async listMembers(conv: string): Promise<MemberRecord[]> {
    return this.#membersOf.all({ conv });
  }

  async addMembers(conv: string, memberList: MemberRecord[], maxMembers: number): Promise<string[]> {
    return this.#db.transaction((tx) => {
      const present = roles(tx, conv);
      const fresh = membersToAdd(present, memberList, maxMembers);
      if (fresh.length > 0) tx.insert(members).values(fresh.map((m) => memberRow(conv, m))).run();
      return fresh.map((m) => m.user);
    }, WRITE);
  }

  async removeMember(conv: string, user: string): Promise<void> {
    this.#db.transaction((tx) => {
      const rows = roles(tx, conv);
      checkRemoval(rows, user);
      tx.delete(members).where(and(eq(members.convId, conv), eq(members.user, user))).run();
    }, WRITE);
  }

  async setAdmin(conv: string, user: string, admin: boolean): Promise<void> {
    this.#db.transaction((tx) => {
      const rows = roles(tx, conv);
      checkAdminChange(rows, user, admin);
      tx.update(members).set({ admin }).where(and(eq(members.convId, conv), eq(members.user, user))).run();
    }, WRITE);
  }

  async listUserConversations(user: string): Promise<{ conv: string; joinedSeq: number }[]> {
    return this.#userConversations.all({ user });
  }

  async saveCursors(updates: CursorUpdate[]): Promise<void> {
    if (updates.length > 0) this.#raiseCursors(updates);
  }

  async createMedia(m: MediaRecord): Promise<void> {
    this.#db.insert(media).values(mediaRow(m)).run();
  }

  async reserveUpload(m: MediaRecord, quota: UploadQuota, nowMs: number): Promise<void> {
    // One write transaction: SQLite's write lock orders reservations, so each reads the usage the
    // previous one left.
    this.#db.transaction((tx) => {
      const usage = tx.select({ day: mediaUsage.day, bytes: mediaUsage.bytes }).from(mediaUsage).where(eq(mediaUsage.owner, m.owner)).get();
      const slots = tx
        .select({ pending: count(), firstExpiry: min(media.expiresAt) })
        .from(media)
        .where(and(eq(media.owner, m.owner), isNull(media.convId), gt(media.expiresAt, nowMs)))
        .get();
      const next = checkUploadQuota(
        { pending: slots?.pending ?? 0, firstExpiry: slots?.firstExpiry ?? null, day: usage?.day ?? null, bytes: usage?.bytes ?? 0 },
        m.size,
        quota,
        nowMs,
      );
      tx.insert(media).values(mediaRow(m)).run();
      tx.insert(mediaUsage).values({ owner: m.owner, ...next }).onConflictDoUpdate({ target: mediaUsage.owner, set: next }).run();
    }, WRITE);
  }

  async getMedia(id: string): Promise<MediaRecord | null> {
    const row = this.#db.select().from(media).where(eq(media.id, id)).get();
    return row ? mediaRecord(row) : null;
  }

  async attachMedia(id: string, owner: string, conv: string, objectKey: string, nowMs: number): Promise<boolean> {
    // One conditional statement: the first claim wins, and any later one (for whatever
    // conversation) matches no row, however the calls interleave.
    const rows = this.#db
      .update(media)
      .set({ convId: conv, objectKey })
      .where(and(eq(media.id, id), eq(media.owner, owner), isNull(media.convId), gt(media.expiresAt, nowMs)))
      .returning({ id: media.id })
      .all();
    return rows.length > 0;
  }

  async setMediaThumb(id: string, thumb: string): Promise<void> {
    this.#db.update(media).set({ thumb }).where(eq(media.id, id)).run();
  }

  async listExpiredUploads(nowMs: number, limit: number): Promise<MediaRecord[]> {
    return this.#db.select().from(media).where(lte(media.expiresAt, nowMs)).orderBy(media.expiresAt, media.id).limit(limit).all().map(mediaRecord);
  }

  async finishExpiredUploads(ids: string[], nowMs: number): Promise<void> {
    if (ids.length === 0) return;
    const expired = and(inArray(media.id, ids), lte(media.expiresAt, nowMs));
    this.#db.transaction((tx) => {
      tx.delete(media).where(and(expired, isNull(media.convId))).run();
      tx.update(media).set({ expiresAt: null }).where(and(expired, isNotNull(media.convId))).run();
    }, WRITE);
  }

  async scheduleMediaDeletion(ids: string[], atMs: number): Promise<void> {
    if (ids.length === 0) return;
    this.#db
      .update(media)
      .set({ deleteAt: sql`min(coalesce(${media.deleteAt}, ${atMs}), ${atMs})` })
      .where(inArray(media.id, ids))
      .run();
  }

  async listMediaDue(nowMs: number, limit: number): Promise<MediaRecord[]> {
    return this.#db.select().from(media).where(lte(media.deleteAt, nowMs)).orderBy(media.deleteAt, media.id).limit(limit).all().map(mediaRecord);
  }

  async deleteMediaRecords(ids: string[]): Promise<void> {
    if (ids.length > 0) this.#db.delete(media).where(inArray(media.id, ids)).run();
  }

  // ---- ChatSettingsStore --------------------------------------------------------------------

  async listChatSettings(user: string): Promise<ChatSettingsRecord[]> {
    const rows = this.#db
      .select({ settings: chatSettings })
      .from(chatSettings)
      .innerJoin(members, and(eq(members.convId, chatSettings.convId), eq(members.user, chatSettings.user)))
      .where(eq(chatSettings.user, user))
      .orderBy(chatSettings.convId)
      .all();
    return rows.map((r) => chatSettingsRecord(r.settings));
  }

  async getChatSettings(user: string, conv: string): Promise<ChatSettingsRecord> {
    const row = this.#db.select().from(chatSettings).where(and(eq(chatSettings.user, user), eq(chatSettings.convId, conv))).get();
    return row ? chatSettingsRecord(row) : { conv, ...DEFAULT_CHAT_SETTINGS };
  }

  async saveChatSettings(user: string, s: ChatSettingsRecord): Promise<void> {
    const values = { muteUntil: s.muteUntil, archived: s.archived, pinned: s.pinned, unread: s.unread };
    this.#db
      .insert(chatSettings)
      .values({ user, convId: s.conv, ...values })
      .onConflictDoUpdate({ target: [chatSettings.user, chatSettings.convId], set: values })
      .run();
  }

  async mutedAmong(conv: string, users: string[], nowMs: number): Promise<Set<string>> {
    if (users.length === 0) return new Set();
    return new Set(this.#mutedAmong(conv, nowMs, users).map((r) => r.user));
  }

  async hideMessages(user: string, conv: string, seqs: number[], nowMs: number): Promise<void> {
    if (seqs.length === 0) return;
    this.#db
      .insert(hiddenMessages)
      .values(seqs.map((seq) => ({ user, convId: conv, seq, at: nowMs })))
      .onConflictDoNothing()
      .run();
  }

  async hiddenSeqs(user: string, conv: string, fromSeq: number, toSeq: number): Promise<number[]> {
    const rows = this.#db
      .select({ seq: hiddenMessages.seq })
      .from(hiddenMessages)
      .where(and(eq(hiddenMessages.user, user), eq(hiddenMessages.convId, conv), gte(hiddenMessages.seq, fromSeq), lte(hiddenMessages.seq, toSeq)))
      .orderBy(asc(hiddenMessages.seq))
      .all();
    return rows.map((r) => r.seq);
  }

  async hiddenConversations(user: string): Promise<string[]> {
    return this.#hiddenConversations.all({ user }).map((r) => r.conv);
  }

  async listHidden(user: string, perConv: number): Promise<HiddenMessages[]> {
    const convs = this.#db
      .selectDistinct({ conv: hiddenMessages.convId })
      .from(hiddenMessages)
      .innerJoin(members, and(eq(members.convId, hiddenMessages.convId), eq(members.user, hiddenMessages.user)))
      .where(eq(hiddenMessages.user, user))
      .orderBy(hiddenMessages.convId)
      .all();
    const rows = convs.flatMap(({ conv }) =>
      this.#db
        .select({ conv: hiddenMessages.convId, seq: hiddenMessages.seq })
        .from(hiddenMessages)
        .where(and(eq(hiddenMessages.user, user), eq(hiddenMessages.convId, conv)))
        .orderBy(desc(hiddenMessages.seq))
        .limit(perConv)
        .all(),
    );
    return groupHidden(rows);
  }

  async savePushSubscription(sub: PushSubscriptionRecord): Promise<void> {
    this.#db
      .insert(pushSubscriptions)
      .values(sub)
      .onConflictDoUpdate({
        target: pushSubscriptions.endpoint,
        set: { user: sub.user, device: sub.device, p256dh: sub.p256dh, auth: sub.auth },
      })
      .run();
  }

  async listPushSubscriptions(user: string): Promise<PushSubscriptionRecord[]> {
    return this.#pushSubscriptionsOf.all({ user });
  }

  async deletePushSubscription(endpoint: string): Promise<void> {
    this.#db.delete(pushSubscriptions).where(eq(pushSubscriptions.endpoint, endpoint)).run();
  }

  /** Writes the pending registrations and last-seen times; the shared connection is closed by openSqlite's close(). */
  async close(): Promise<void> {
    this.#connects.flush();
  }
}
