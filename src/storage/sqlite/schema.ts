// Drizzle schema of the embedded SQLite backend. `bun run db:generate` turns changes here into
// SQL migrations under ./migrations, which openSqlite() applies at startup.

import { sql } from "drizzle-orm";
import { blob, customType, index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

/**
 * A 64-bit SQLite INTEGER seen as bigint. bun:sqlite (without safeIntegers) returns integers as
 * doubles, which corrupts snowflake ids above 2^53, so hot-path reads select such columns with
 * CAST(... AS TEXT); the guard below makes a lossy read through drizzle fail instead of corrupting.
 */
const int64 = customType<{ data: bigint; driverData: bigint | number | string }>({
  dataType: () => "integer",
  fromDriver(value) {
    if (typeof value === "number" && !Number.isSafeInteger(value)) {
      throw new RangeError("64-bit integer read as a lossy number; select it with CAST(... AS TEXT)");
    }
    return BigInt(value);
  },
});

export const devices = sqliteTable(
  "devices",
  {
    user: text("user").notNull(),
    device: text("device").notNull(),
    firstSeen: integer("first_seen").notNull(),
    lastSeen: integer("last_seen").notNull(),
    /** Null while the device may connect; set once, revocation is permanent. */
    revokedAt: integer("revoked_at"),
  },
  (t) => [primaryKey({ columns: [t.user, t.device] })],
);

export const conversations = sqliteTable("conversations", {
  id: text("id").primaryKey(),
  type: integer("type").notNull(),
  title: text("title").notNull(),
  createdBy: text("created_by").notNull(),
  createdAt: integer("created_at").notNull(),
});

/**
 * One row per pair of users that have a direct conversation, userA < userB. Its primary key is
 * what makes concurrent openDirect calls agree on one conversation. No foreign key to
 * conversations: the pair row is written first, to win the race, and its conversation after.
 */
export const directPairs = sqliteTable(
  "direct_pairs",
  {
    userA: text("user_a").notNull(),
    userB: text("user_b").notNull(),
    convId: text("conv_id").notNull(),
  },
  (t) => [primaryKey({ columns: [t.userA, t.userB] })],
);

export const members = sqliteTable(
  "members",
  {
    convId: text("conv_id")
      .notNull()
      .references(() => conversations.id, { onDelete: "cascade" }),
    user: text("user").notNull(),
    admin: integer("admin", { mode: "boolean" }).notNull(),
    joinedSeq: integer("joined_seq").notNull(),
    delivered: integer("delivered").notNull().default(0),
    read: integer("read").notNull().default(0),
  },
  (t) => [primaryKey({ columns: [t.convId, t.user] }), index("members_user_idx").on(t.user)],
);

/**
 * Append-only message log, a WITHOUT ROWID table clustered on (conv_id, seq): migration
 * 0005_messages_clustered rebuilt it so (drizzle cannot declare WITHOUT ROWID, so that clause
 * lives in the migration only). Every append writes two B-trees, the table and the client-id
 * index, where a rowid table wrote four (rowid table, primary-key index, client-id index, ts
 * index): fewer pages per group commit. Rows stay small in the common case (a chat message), and
 * a large body goes to overflow pages either way.
 * The ts index that retention pruning needs is made at open only when retention is on
 * (db.ts): a server that keeps everything does not pay for it on every append.
 * No foreign key to conversations: the message store stands alone (other backends split the two).
 */
export const messages = sqliteTable(
  "messages",
  {
    convId: text("conv_id").notNull(),
    seq: integer("seq").notNull(),
    id: int64("id").notNull(),
    sender: text("sender").notNull(),
    device: text("device").notNull(),
    cid: text("cid").notNull(),
    kind: integer("kind").notNull(),
    body: blob("body", { mode: "buffer" }).notNull(),
    ts: integer("ts").notNull(),
    /** Media id carried by a kind Media message; null for every other message. */
    media: text("media"),
  },
  (t) => [
    primaryKey({ columns: [t.convId, t.seq] }),
    // Partial: system messages all carry cid "" and must not collide with each other.
    uniqueIndex("messages_client_id_idx").on(t.convId, t.sender, t.cid).where(sql`cid <> ''`),
  ],
);

/**
 * Highest seq ever stored per conversation, raised in the same transaction as the inserts. Appends
 * take their seq from it (never from the rows), so seqs are not reused after pruning, and
 * lastSeq() and firstRetainedSeq() stay right after pruning has deleted the newest messages.
 */
export const convSeq = sqliteTable("conv_seq", {
  convId: text("conv_id").primaryKey(),
  lastSeq: integer("last_seq").notNull(),
});

/**
 * Uploaded (or announced) media. `convId` is null until a message first carries the media, then
 * set once by attachMedia's conditional update, which is what makes concurrent sends of the same
 * media to different conversations agree on one. No foreign key to conversations, like messages:
 * the conversation is checked by the caller, and the row outlives nothing it points to.
 */
export const media = sqliteTable(
  "media",
  {
    id: text("id").primaryKey(),
    owner: text("owner").notNull(),
    contentType: text("content_type").notNull(),
    size: integer("size").notNull(),
    /** Hex SHA-256 the uploader declared. */
    sha256: text("sha256").notNull(),
    createdAt: integer("created_at").notNull(),
    /** End of the upload slot; null once there is no slot to clean up. */
    expiresAt: integer("expires_at"),
    convId: text("conv_id"),
    /** Key of the immutable object served, set with convId. */
    objectKey: text("object_key"),
    /** Media id of the generated thumbnail, once there is one. */
    thumb: text("thumb"),
  },
  (t) => [
    index("media_conv_idx").on(t.convId),
    // The quota counts an owner's unexpired slots; the sweeper finds expired ones.
    index("media_owner_idx").on(t.owner, t.expiresAt),
    index("media_expires_idx").on(t.expiresAt),
  ],
);

/**
 * Upload bytes announced per owner on one UTC day (the day the row counts; an older day reads as
 * zero). One row per uploader, rewritten in the transaction that issues a slot.
 */
export const mediaUsage = sqliteTable("media_usage", {
  owner: text("owner").primaryKey(),
  day: integer("day").notNull(),
  bytes: integer("bytes").notNull(),
});

/** Web Push subscriptions, one per push service endpoint; re-subscribing replaces the row. */
export const pushSubscriptions = sqliteTable(
  "push_subscriptions",
  {
    endpoint: text("endpoint").primaryKey(),
    user: text("user").notNull(),
    device: text("device").notNull(),
    p256dh: text("p256dh").notNull(),
    auth: text("auth").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [index("push_subscriptions_user_idx").on(t.user)],
);
