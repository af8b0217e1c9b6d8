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

/** WITHOUT ROWID since migration 0011 (see users). */
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
  /** Disappearing messages: seconds after which new messages are deleted; 0: off. */
  timer: integer("timer").notNull().default(0),
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
 * Append-only message log: a rowid table with no key, so a commit appends its rows at the table's
 * end and writes a few pages, whatever conversations they belong to. Rows are found by (conv_id,
 * seq) through message_index, which the message store fills after the commit (below).
 * Measured on the group-commit path (50 conversations, batches of 200): a unique client-id
 * index tripled the pages each commit writes, so there is none (migration 0007); duplicates are
 * caught by the message store's window of recent client ids and, for resends, a bounded lookup
 * (message-store.ts). A WITHOUT ROWID table clustered on (conv_id, seq) was tried and wrote more
 * pages still: full rows split the per-conversation leaves far more often than index entries.
 * The ts index that retention pruning needs is made at open only when retention is on (db.ts).
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
    /** Empty when `frame` is set (it carries the body); the body of a row written before frames. */
    body: blob("body", { mode: "buffer" }).notNull(),
    ts: integer("ts").notNull(),
    /**
     * The message as its MESSAGE push (src/proto/message-frame.ts): what the message says, read
     * back as is by a resume, which neither builds nor encodes a message per row. The columns
     * around it are what queries select and sort by. Null in rows written before it existed.
     */
    frame: blob("frame", { mode: "buffer" }),
    /** Media id carried by a kind Media message; null for every other message. */
    media: text("media"),
    /** Edit, Reaction: the message they apply to; other kinds: the message replied to. */
    ref: integer("ref"),
    /** Time of the latest edit, whose body `body` is. */
    edited: integer("edited"),
    /** Disappearing messages: when the message is deleted. */
    exp: integer("exp"),
  },
  (t) => [
    // Partial: only disappearing messages have an entry, so appends of the others (nearly all of
    // them) do not maintain it; pruneExpired reads its head.
    index("messages_exp_idx").on(t.exp).where(sql`exp IS NOT NULL`),
  ],
);

/**
 * Where each message row is: (conv_id, seq) -> its rowid in messages. Kept off the commit path: as
 * the messages' primary key, each commit rewrote one page of it per conversation it touched (in
 * the 1:1 open loop about one WAL frame per message); the message store inserts a batch of
 * entries, sorted, a moment after the commits (message-store.ts), and at open indexes the rows a
 * crash left past the highest indexed rowid. The key is one integer, the conversation's number
 * (conv_nums) above 36 bits of seq, so the entries are a rowid table's B-tree alone: keyed by
 * (conv_id TEXT, seq) WITHOUT ROWID (migration 0012), an entry took 45 bytes and its insert about
 * 3 µs, against 1.7 µs here (migration 0013; throwaway bench of 400,000 entries in batches of 750).
 */
export const messageIndex = sqliteTable("message_index", {
  key: integer("key").primaryKey(),
  row: integer("row").notNull(),
});

/**
 * A number for each conversation with stored messages, the high bits of its message_index keys:
 * given in the commit of its first message, never reused.
 */
export const convNums = sqliteTable("conv_nums", {
  num: integer("num").primaryKey(),
  convId: text("conv_id").notNull().unique(),
});

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
    /** When the media is deleted: that of the disappearing message carrying it. */
    deleteAt: integer("delete_at"),
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

// ---- safety and moderation (src/storage/safety-types.ts) -------------------------------------

/**
 * Every user that exists: provisioned through the admin API, or registered on first
 * authentication. WITHOUT ROWID (migration 0011, which drizzle-kit cannot express: keep it when a
 * later migration rebuilds the table), like devices: a first connect writes one page per table
 * instead of the table's and its primary-key index's.
 */
export const users = sqliteTable("users", {
  id: text("id").primaryKey(),
  createdAt: integer("created_at").notNull(),
  /** "admin" or "login". */
  origin: text("origin").notNull(),
  bannedAt: integer("banned_at"),
  banReason: text("ban_reason"),
});

/** A user's privacy settings; no row: the defaults. */
export const privacySettings = sqliteTable("privacy_settings", {
  user: text("user").primaryKey(),
  lastSeen: text("last_seen").notNull(),
  online: text("online").notNull(),
  groupAdd: text("group_add").notNull(),
  readReceipts: integer("read_receipts", { mode: "boolean" }).notNull(),
});

export const contacts = sqliteTable(
  "contacts",
  {
    owner: text("owner").notNull(),
    contact: text("contact").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.owner, t.contact] })],
);

export const blocks = sqliteTable(
  "blocks",
  {
    blocker: text("blocker").notNull(),
    blocked: text("blocked").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.blocker, t.blocked] })],
);

/** Members who are in a conversation by their own choice (presence counts only those conversations). */
export const memberConsents = sqliteTable(
  "member_consents",
  {
    convId: text("conv_id")
      .notNull()
      .references(() => conversations.id, { onDelete: "cascade" }),
    user: text("user").notNull(),
    at: integer("at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.convId, t.user] }), index("member_consents_user_idx").on(t.user)],
);

/** Pending invitations to groups, for users whose settings did not let the inviter add them. */
export const invitations = sqliteTable(
  "invitations",
  {
    convId: text("conv_id")
      .notNull()
      .references(() => conversations.id, { onDelete: "cascade" }),
    user: text("user").notNull(),
    by: text("by").notNull(),
    at: integer("at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.convId, t.user] }), index("invitations_user_idx").on(t.user)],
);

export const inviteLinks = sqliteTable(
  "invite_links",
  {
    token: text("token").primaryKey(),
    convId: text("conv_id")
      .notNull()
      .references(() => conversations.id, { onDelete: "cascade" }),
    by: text("by").notNull(),
    at: integer("at").notNull(),
    approval: integer("approval", { mode: "boolean" }).notNull(),
    revokedAt: integer("revoked_at"),
  },
  (t) => [index("invite_links_conv_idx").on(t.convId)],
);

/** Joins through a link that needs approval, waiting for an admin. */
export const joinRequests = sqliteTable(
  "join_requests",
  {
    convId: text("conv_id")
      .notNull()
      .references(() => conversations.id, { onDelete: "cascade" }),
    user: text("user").notNull(),
    token: text("token").notNull(),
    at: integer("at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.convId, t.user] })],
);

/** Reports by users; `messages` is the reporter's own copies (JSON, bodies base64). */
export const reports = sqliteTable(
  "reports",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    reporter: text("reporter").notNull(),
    user: text("user").notNull(),
    convId: text("conv_id"),
    seq: integer("seq"),
    reason: text("reason").notNull(),
    messages: text("messages").notNull(),
    at: integer("at").notNull(),
  },
  (t) => [index("reports_user_idx").on(t.user)],
);

/** Every admin API action; rows are never changed. */
export const auditLog = sqliteTable("audit_log", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  at: integer("at").notNull(),
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
export const removedMessages = sqliteTable(
  "removed_messages",
  {
    convId: text("conv_id").notNull(),
    seq: integer("seq").notNull(),
    sender: text("sender").notNull(),
    media: text("media"),
    by: text("by").notNull(),
    reason: text("reason").notNull(),
    at: integer("at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.convId, t.seq] })],
);

// ---- end-to-end encryption (src/e2ee): the MLS delivery service's state ------------------------

/**
 * KeyPackages devices uploaded for others to add them to MLS groups (RFC 9420 §10). Each is
 * claimed once (deleted as it is taken), except a device's one last-resort package, which stays.
 */
export const mlsKeyPackages = sqliteTable(
  "mls_key_packages",
  {
    /** Hex SHA-256 of `body`. */
    ref: text("ref").primaryKey(),
    user: text("user").notNull(),
    device: text("device").notNull(),
    /** The MLSMessage (mls_key_package) as uploaded. */
    body: blob("body", { mode: "buffer" }).notNull(),
    lastResort: integer("last_resort", { mode: "boolean" }).notNull(),
    createdAt: integer("created_at").notNull(),
    /** The package's lifetime.not_after, in ms. */
    expiresAt: integer("expires_at").notNull(),
  },
  (t) => [index("mls_key_packages_device_idx").on(t.user, t.device, t.lastResort, t.createdAt)],
);

/** A conversation's MLS group: its id and epoch, and the commit that started the epoch. */
export const mlsGroups = sqliteTable("mls_groups", {
  convId: text("conv_id")
    .primaryKey()
    .references(() => conversations.id, { onDelete: "cascade" }),
  groupId: blob("group_id", { mode: "buffer" }).notNull(),
  epoch: integer("epoch").notNull(),
  /** Seq of the MlsCommit message that started `epoch`; 0 while it is being stored. */
  commitSeq: integer("commit_seq").notNull(),
  /** Hex SHA-256 of that commit (a retry of it is recognised). */
  commitHash: text("commit_hash").notNull(),
  /** That MlsCommit message until it is stored (JSON: from, dev, cid, media; body base64): a node that finds it re-appends it. */
  pending: text("pending"),
});

/** Who holds each leaf of a group's ratchet tree (blank leaves have no row). */
export const mlsLeaves = sqliteTable(
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
export const chatSettings = sqliteTable(
  "chat_settings",
  {
    user: text("user").notNull(),
    convId: text("conv_id").notNull(),
    muteUntil: integer("mute_until").notNull(),
    archived: integer("archived", { mode: "boolean" }).notNull(),
    pinned: integer("pinned", { mode: "boolean" }).notNull(),
    unread: integer("unread", { mode: "boolean" }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.user, t.convId] }), index("chat_settings_mute_idx").on(t.convId, t.muteUntil)],
);

/** Messages a user hid for themselves (delete for me). */
export const hiddenMessages = sqliteTable(
  "hidden_messages",
  {
    user: text("user").notNull(),
    convId: text("conv_id").notNull(),
    seq: integer("seq").notNull(),
    at: integer("at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.user, t.convId, t.seq] })],
);
