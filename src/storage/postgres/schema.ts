// Drizzle schema of the PostgreSQL backend (cluster mode). It mirrors src/storage/sqlite/schema.ts
// table for table and column for column, so that both backends keep the same model; only the
// types differ where the dialects do. `bun run db:generate:pg` turns changes here into SQL
// migrations under ./migrations, which openPostgres() and migratePostgres() apply.

import { sql } from "drizzle-orm";
import { bigint, bigserial, boolean, customType, index, integer, pgTable, primaryKey, text, uniqueIndex } from "drizzle-orm/pg-core";

/** Message bodies are opaque bytes. postgres.js reads bytea as a Buffer, i.e. a Uint8Array. */
const bytea = customType<{ data: Uint8Array; driverData: Uint8Array }>({
  dataType: () => "bytea",
});

// Timestamps are ms since the epoch and seqs are per-conversation counters: both are int8 read as
// JS numbers (exact below 2^53). Seqs are not int4: a busy conversation could pass 2^31 messages.
const ms = (name: string) => bigint(name, { mode: "number" });
const seq = (name: string) => bigint(name, { mode: "number" });

export const devices = pgTable(
  "devices",
  {
    user: text("user").notNull(),
    device: text("device").notNull(),
    firstSeen: ms("first_seen").notNull(),
    lastSeen: ms("last_seen").notNull(),
    /** Null while the device may connect; set once, revocation is permanent. */
    revokedAt: ms("revoked_at"),
  },
  (t) => [primaryKey({ columns: [t.user, t.device] })],
);

export const conversations = pgTable("conversations", {
  id: text("id").primaryKey(),
  type: integer("type").notNull(),
  title: text("title").notNull(),
  createdBy: text("created_by").notNull(),
  createdAt: ms("created_at").notNull(),
  /** Disappearing messages: seconds after which new messages are deleted; 0: off. */
  timer: integer("timer").notNull().default(0),
});

/**
 * One row per pair of users that have a direct conversation, userA < userB. Its primary key is
 * what makes concurrent openDirect calls (from any node) agree on one conversation. No foreign
 * key to conversations: the pair row is written first, to win the race, and its conversation after.
 */
export const directPairs = pgTable(
  "direct_pairs",
  {
    userA: text("user_a").notNull(),
    userB: text("user_b").notNull(),
    convId: text("conv_id").notNull(),
  },
  (t) => [primaryKey({ columns: [t.userA, t.userB] })],
);

export const members = pgTable(
  "members",
  {
    convId: text("conv_id")
      .notNull()
      .references(() => conversations.id, { onDelete: "cascade" }),
    user: text("user").notNull(),
    admin: boolean("admin").notNull(),
    joinedSeq: seq("joined_seq").notNull(),
    delivered: seq("delivered").notNull().default(0),
    read: seq("read").notNull().default(0),
  },
  (t) => [primaryKey({ columns: [t.convId, t.user] }), index("members_user_idx").on(t.user)],
);

/**
 * Append-only message log. The id is a 64-bit snowflake: int8 read as bigint, since ids pass 2^53.
 * No foreign key to conversations: the message store stands alone (other backends split the two).
 */
export const messages = pgTable(
  "messages",
  {
    convId: text("conv_id").notNull(),
    seq: seq("seq").notNull(),
    id: bigint("id", { mode: "bigint" }).notNull(),
    sender: text("sender").notNull(),
    device: text("device").notNull(),
    cid: text("cid").notNull(),
    kind: integer("kind").notNull(),
    body: bytea("body").notNull(),
    ts: ms("ts").notNull(),
    /** Media id carried by a kind Media message; null for every other message. */
    media: text("media"),
    /** Edit, Reaction: the message they apply to; other kinds: the message replied to. */
    ref: seq("ref"),
    /** Time of the latest edit, whose body `body` is. */
    edited: ms("edited"),
    /** Disappearing messages: when the message is deleted. */
    exp: ms("exp"),
  },
  (t) => [
    primaryKey({ columns: [t.convId, t.seq] }),
    // Partial: only disappearing messages have an entry, so appends of the others do not maintain it.
    index("messages_exp_idx").on(t.exp).where(sql`exp IS NOT NULL`),
    // Partial: system messages all carry cid "" and must not collide with each other.
    uniqueIndex("messages_client_id_idx").on(t.convId, t.sender, t.cid).where(sql`cid <> ''`),
    index("messages_ts_idx").on(t.ts),
  ],
);

/**
 * Highest seq ever stored per conversation, raised in the same transaction as the inserts. Appends
 * take their seq from it (never from the rows), so seqs are not reused after pruning, and
 * lastSeq() and firstRetainedSeq() stay right after pruning has deleted the newest messages. Its
 * row is also the lock that orders appends to one conversation across processes.
 */
export const convSeq = pgTable("conv_seq", {
  convId: text("conv_id").primaryKey(),
  lastSeq: seq("last_seq").notNull(),
});

/**
 * Uploaded (or announced) media. `convId` is null until a message first carries the media, then
 * set once by attachMedia's conditional update, which is what makes concurrent sends of the same
 * media to different conversations (from any node) agree on one. No foreign key to
 * conversations, like messages: the conversation is checked by the caller.
 */
export const media = pgTable(
  "media",
  {
    id: text("id").primaryKey(),
    owner: text("owner").notNull(),
    contentType: text("content_type").notNull(),
    // int8: a file may pass 2 GiB.
    size: bigint("size", { mode: "number" }).notNull(),
    /** Hex SHA-256 the uploader declared. */
    sha256: text("sha256").notNull(),
    createdAt: ms("created_at").notNull(),
    /** End of the upload slot; null once there is no slot to clean up. */
    expiresAt: ms("expires_at"),
    convId: text("conv_id"),
    /** Key of the immutable object served, set with convId. */
    objectKey: text("object_key"),
    /** Media id of the generated thumbnail, once there is one. */
    thumb: text("thumb"),
    /** When the media is deleted: that of the disappearing message carrying it. */
    deleteAt: ms("delete_at"),
  },
  (t) => [
    index("media_conv_idx").on(t.convId),
    index("media_delete_idx").on(t.deleteAt).where(sql`delete_at IS NOT NULL`),
    // The quota counts an owner's unexpired slots; the sweeper finds expired ones.
    index("media_owner_idx").on(t.owner, t.expiresAt),
    index("media_expires_idx").on(t.expiresAt),
  ],
);

/**
 * Upload bytes announced per owner on one UTC day (the day the row counts; an older day reads as
 * zero). One row per uploader: it is also the lock that orders one owner's slot reservations
 * across nodes (see reserveUpload).
 */
export const mediaUsage = pgTable("media_usage", {
  owner: text("owner").primaryKey(),
  day: integer("day").notNull(),
  bytes: bigint("bytes", { mode: "number" }).notNull(),
});

/** Web Push subscriptions, one per push service endpoint; re-subscribing replaces the row. */
export const pushSubscriptions = pgTable(
  "push_subscriptions",
  {
    endpoint: text("endpoint").primaryKey(),
    user: text("user").notNull(),
    device: text("device").notNull(),
    p256dh: text("p256dh").notNull(),
    auth: text("auth").notNull(),
    createdAt: ms("created_at").notNull(),
  },
  (t) => [index("push_subscriptions_user_idx").on(t.user)],
);

// ---- safety and moderation (src/storage/safety-types.ts) -------------------------------------

/**
 * Every user that exists: provisioned through the admin API, or registered on first
 * authentication. No index on banned_at: no query filters on it, and every registration paid for it.
 */
export const users = pgTable("users", {
  id: text("id").primaryKey(),
  createdAt: ms("created_at").notNull(),
  /** "admin" or "login". */
  origin: text("origin").notNull(),
  bannedAt: ms("banned_at"),
  banReason: text("ban_reason"),
});

/** A user's privacy settings; no row: the defaults. */
export const privacySettings = pgTable("privacy_settings", {
  user: text("user").primaryKey(),
  lastSeen: text("last_seen").notNull(),
  online: text("online").notNull(),
  groupAdd: text("group_add").notNull(),
  readReceipts: boolean("read_receipts").notNull(),
});

export const contacts = pgTable(
  "contacts",
  {
    owner: text("owner").notNull(),
    contact: text("contact").notNull(),
    createdAt: ms("created_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.owner, t.contact] })],
);

export const blocks = pgTable(
  "blocks",
  {
    blocker: text("blocker").notNull(),
    blocked: text("blocked").notNull(),
    createdAt: ms("created_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.blocker, t.blocked] })],
);

/** Members who are in a conversation by their own choice (presence counts only those conversations). */
export const memberConsents = pgTable(
  "member_consents",
  {
    convId: text("conv_id")
      .notNull()
      .references(() => conversations.id, { onDelete: "cascade" }),
    user: text("user").notNull(),
    at: ms("at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.convId, t.user] }), index("member_consents_user_idx").on(t.user)],
);

/** Pending invitations to groups, for users whose settings did not let the inviter add them. */
export const invitations = pgTable(
  "invitations",
  {
    convId: text("conv_id")
      .notNull()
      .references(() => conversations.id, { onDelete: "cascade" }),
    user: text("user").notNull(),
    by: text("by").notNull(),
    at: ms("at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.convId, t.user] }), index("invitations_user_idx").on(t.user)],
);

export const inviteLinks = pgTable(
  "invite_links",
  {
    token: text("token").primaryKey(),
    convId: text("conv_id")
      .notNull()
      .references(() => conversations.id, { onDelete: "cascade" }),
    by: text("by").notNull(),
    at: ms("at").notNull(),
    approval: boolean("approval").notNull(),
    revokedAt: ms("revoked_at"),
  },
  (t) => [index("invite_links_conv_idx").on(t.convId)],
);

/** Joins through a link that needs approval, waiting for an admin. */
export const joinRequests = pgTable(
  "join_requests",
  {
    convId: text("conv_id")
      .notNull()
      .references(() => conversations.id, { onDelete: "cascade" }),
    user: text("user").notNull(),
    token: text("token").notNull(),
    at: ms("at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.convId, t.user] })],
);

/** Reports by users; `messages` is the reporter's own copies (JSON, bodies base64). */
export const reports = pgTable(
  "reports",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    reporter: text("reporter").notNull(),
    user: text("user").notNull(),
    convId: text("conv_id"),
    seq: seq("seq"),
    reason: text("reason").notNull(),
    messages: text("messages").notNull(),
    at: ms("at").notNull(),
  },
  (t) => [index("reports_user_idx").on(t.user)],
);

/** Every admin API action; rows are never changed. */
export const auditLog = pgTable("audit_log", {
  id: bigserial("id", { mode: "number" }).primaryKey(),
  at: ms("at").notNull(),
  admin: text("admin").notNull(),
  device: text("device").notNull(),
  action: text("action").notNull(),
  target: text("target").notNull(),
  status: integer("status").notNull(),
  details: text("details").notNull(),
});

/**
 * Messages removed by moderation: served as tombstones from then on. No foreign key, like
 * messages: the message store stands alone.
 */
export const removedMessages = pgTable(
  "removed_messages",
  {
    convId: text("conv_id").notNull(),
    seq: seq("seq").notNull(),
    sender: text("sender").notNull(),
    media: text("media"),
    by: text("by").notNull(),
    reason: text("reason").notNull(),
    at: ms("at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.convId, t.seq] })],
);

// ---- end-to-end encryption (src/e2ee): the MLS delivery service's state ------------------------

/**
 * KeyPackages devices uploaded for others to add them to MLS groups (RFC 9420 §10). Each is
 * claimed once (deleted as it is taken), except a device's one last-resort package, which stays.
 */
export const mlsKeyPackages = pgTable(
  "mls_key_packages",
  {
    /** Hex SHA-256 of `body`. */
    ref: text("ref").primaryKey(),
    user: text("user").notNull(),
    device: text("device").notNull(),
    /** The MLSMessage (mls_key_package) as uploaded. */
    body: bytea("body").notNull(),
    lastResort: boolean("last_resort").notNull(),
    createdAt: ms("created_at").notNull(),
    /** The package's lifetime.not_after, in ms. */
    expiresAt: ms("expires_at").notNull(),
  },
  (t) => [index("mls_key_packages_device_idx").on(t.user, t.device, t.lastResort, t.createdAt)],
);

/** A conversation's MLS group: its id and epoch, and the commit that started the epoch. */
export const mlsGroups = pgTable("mls_groups", {
  convId: text("conv_id")
    .primaryKey()
    .references(() => conversations.id, { onDelete: "cascade" }),
  groupId: bytea("group_id").notNull(),
  epoch: bigint("epoch", { mode: "number" }).notNull(),
  /** Seq of the MlsCommit message that started `epoch`; 0 while it is being stored. */
  commitSeq: seq("commit_seq").notNull(),
  /** Hex SHA-256 of that commit (a retry of it is recognised). */
  commitHash: text("commit_hash").notNull(),
  /** That MlsCommit message until it is stored (JSON: from, dev, cid, media; body base64): a node that finds it re-appends it. */
  pending: text("pending"),
});

/** Who holds each leaf of a group's ratchet tree (blank leaves have no row). */
export const mlsLeaves = pgTable(
  "mls_leaves",
  {
    convId: text("conv_id")
      .notNull()
      .references(() => conversations.id, { onDelete: "cascade" }),
    leaf: integer("leaf").notNull(),
    user: text("user").notNull(),
    device: text("device").notNull(),
  },
  (t) => [primaryKey({ columns: [t.convId, t.leaf] }), index("mls_leaves_device_idx").on(t.user, t.device)],
);

// ---- each user's own view of their conversations (ChatSettingsStore) --------------------------

/** A user's settings of one conversation; no row: the defaults. */
export const chatSettings = pgTable(
  "chat_settings",
  {
    user: text("user").notNull(),
    convId: text("conv_id").notNull(),
    muteUntil: ms("mute_until").notNull(),
    archived: boolean("archived").notNull(),
    pinned: boolean("pinned").notNull(),
    unread: boolean("unread").notNull(),
  },
  (t) => [primaryKey({ columns: [t.user, t.convId] }), index("chat_settings_mute_idx").on(t.convId, t.muteUntil)],
);

/** Messages a user hid for themselves (delete for me). */
export const hiddenMessages = pgTable(
  "hidden_messages",
  {
    user: text("user").notNull(),
    convId: text("conv_id").notNull(),
    seq: seq("seq").notNull(),
    at: ms("at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.user, t.convId, t.seq] })],
);
