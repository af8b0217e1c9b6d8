// Storage interfaces. Every backend (embedded SQLite and in-memory now; PostgreSQL, Redis,
// ScyllaDB later) implements these and runs the same contract suites in test/contract/.
// Methods are async so that networked backends fit without changing the callers; the few that
// the connect path calls before its upgrade are MaybeAsync (an embedded store answers at once).

import type { ChatSettings, HiddenMessages, PresenceInfo, WireMessage } from "../proto/types.ts";
import type { MaybeAsync } from "../maybe-async.ts";

/**
 * A stored message is exactly what goes on the wire. Rows are written once and changed only by
 * rewrite (an edit, a deletion for everyone), which replaces what the message says in place.
 */
export type StoredMessage = WireMessage;

/** A message before the store gives it its place in the conversation. */
export type NewMessage = Omit<StoredMessage, "seq">;

/**
 * A stored message as the bytes of its MESSAGE push (src/proto/message-frame.ts), with what
 * deciding how to replay it needs: a backlog is streamed without building a message per row.
 */
export interface StoredFrame {
  seq: number;
  kind: number;
  /** Disappearing message: when it is deleted; null otherwise. */
  exp: number | null;
  frame: Uint8Array;
}

export interface AppendResult {
  message: StoredMessage;
  /** The sender had already stored this client id: `message` is the original, nothing was written. */
  duplicate: boolean;
}

export interface AppendOptions {
  /**
   * The client says it sent this client id before and got no ack. Stores whose duplicate check
   * is not free on every append look further back only then (the log-backed one: the history
   * store's key; SQLite: the conversation's newest messages beyond its window of recent ids).
   */
  resend?: boolean;
}

export interface MessageStore {
  /**
   * True when retention is applied by pruneBefore. False when the store expires messages itself
   * (a TTL set as they are written, from storage.retentionSeconds): pruneBefore then does nothing.
   */
  readonly prunes: boolean;
  /**
   * Appends one message durably and resolves once it is committed (the durability point behind
   * the sender's ack). The store assigns the seq inside the commit: the conversation's last seq
   * plus one, so seqs have no gaps even when a commit fails, and are never reused, even after
   * pruning. A non-empty client id already stored for (conv, from) is not written again: the
   * original is returned with `duplicate: true`, within the store's duplicate window (every
   * store recognises a repeat of a recent append; docs/protocol.md §5.4 gives each one's reach).
   * Concurrent appends share one commit (group commit), and seqs follow the order of the append calls.
   */
  append(msg: NewMessage, opts?: AppendOptions): Promise<AppendResult>;
  /** Highest stored seq of a conversation, 0 when it has none. */
  lastSeq(conv: string): Promise<number>;
  /** Lowest seq still retained, or lastSeq + 1 when everything was pruned, 1 for an empty conversation. */
  firstRetainedSeq(conv: string): Promise<number>;
  /** Messages with seq > afterSeq, ascending, at most `limit`. */
  range(conv: string, afterSeq: number, limit: number): Promise<StoredMessage[]>;
  /**
   * What range() returns, as frames, by a store that keeps each message's frame (SQLite):
   * nothing decoded, nothing encoded. Stores without it are read through range().
   */
  frames?(conv: string, afterSeq: number, limit: number): Promise<StoredFrame[]>;
  /** Messages with seq < beforeSeq, descending (newest first), at most `limit`. */
  history(conv: string, beforeSeq: number, limit: number): Promise<StoredMessage[]>;
  /** For each sender, the highest seq it sent in the conversation. */
  lastSeqBySender(conv: string): Promise<Map<string, number>>;
  /** Deletes messages accepted before `tsMs`; returns how many. Sequences are never reused. */
  pruneBefore(tsMs: number): Promise<number>;
  /**
   * Replaces what a stored message says: its kind, body, media, ref and edited time become those
   * of `message` (an edit, a deletion for everyone); conv and seq name it, and its other fields
   * never change. The previous content is overwritten, not kept as a version. A message the store
   * no longer holds (pruned, expired) is left alone. Stores whose rows expire by TTL keep the
   * row's expiry.
   */
  rewrite(message: StoredMessage): Promise<void>;
  /**
   * Deletes disappearing messages whose `exp` is at or before `nowMs`; returns how many. Like
   * pruneBefore, it never lowers a conversation's last seq. Stores that expire them by a TTL set
   * when they are written (`prunes` false) return 0.
   */
  pruneExpired(nowMs: number): Promise<number>;
  /** Resolves when every append issued so far is committed. */
  flush(): Promise<void>;
  close(): Promise<void>;
}

export interface DeviceRecord {
  user: string;
  device: string;
  firstSeen: number;
  lastSeen: number;
  revoked: boolean;
}

export interface ConversationRecord {
  id: string;
  type: number;
  title: string;
  createdBy: string;
  createdAt: number;
  /** Disappearing messages: seconds after which new messages are deleted; absent when off. */
  timer?: number;
}

export interface MemberRecord {
  user: string;
  admin: boolean;
  /** Seq of the first message this member may receive (the system message that added them). */
  joinedSeq: number;
  delivered: number;
  read: number;
}

export type MembershipRefusal = "group-full" | "last-admin" | "not-member";

export class MembershipError extends Error {
  constructor(
    readonly reason: MembershipRefusal,
    message: string,
  ) {
    super(message);
  }
}

export interface CursorUpdate {
  conv: string;
  user: string;
  delivered: number;
  read: number;
}

/** An uploaded (or announced) media object. `conv` is set when a message first carries it. */
export interface MediaRecord {
  id: string;
  owner: string;
  contentType: string;
  size: number;
  /** Hex SHA-256 the uploader declared (the store refuses other bytes, and attaching checks it again). */
  sha256: string;
  createdAt: number;
  /**
   * End of the upload slot (ms): unattached media may be attached until then, and is deleted
   * after it; attached media then loses only its upload object. Null when there is no slot to
   * clean up (media the server made, or a slot the sweeper has finished with).
   */
  expiresAt: number | null;
  conv: string | null;
  /**
   * The object served for this media: an immutable copy made when a message first carried it, at
   * a key no upload form names. Null before; media the server made is written there directly.
   */
  objectKey: string | null;
  /** Media id of the generated thumbnail, once there is one. */
  thumb: string | null;
}

/** How many upload slots one user may hold, and how many bytes they may announce per UTC day. */
export interface UploadQuota {
  maxPending: number;
  maxBytesPerDay: number;
}

export type UploadQuotaRefusal = "pending-uploads" | "daily-bytes";

export class UploadQuotaError extends Error {
  constructor(
    readonly reason: UploadQuotaRefusal,
    message: string,
    /** When the same request would next be allowed (the earliest a slot frees up, or the next UTC day). */
    readonly retryAfterMs: number,
  ) {
    super(message);
  }
}

export interface PushSubscriptionRecord {
  user: string;
  device: string;
  /** The push service URL (unique: re-subscribing replaces the keys). */
  endpoint: string;
  /** Subscription keys for RFC 8291 message encryption, base64url. */
  p256dh: string;
  auth: string;
  createdAt: number;
}

/**
 * What touchDevice found: a device seen before, a new one now recorded, a revoked one, or a new
 * one refused because its user already has the most devices allowed (nothing recorded).
 */
export type DeviceAdmission = "known" | "new" | "revoked" | "too-many";

export interface MetadataStore extends ChatSettingsStore {
  /**
   * Records that a device connected: its last-seen time, or the device itself on first sight
   * unless the user already has `maxDevices` devices that are not revoked. A store may write
   * either a moment later, in a batch (the embedded one does, after the turn); the store's own
   * reads (listDevices, revokeDevice, isDeviceRevoked) see it. Concurrent first connections
   * cannot exceed the cap. Every connection calls it before its upgrade: an embedded store
   * answers at once (maybe-async.ts).
   */
  touchDevice(user: string, device: string, nowMs: number, maxDevices: number): MaybeAsync<DeviceAdmission>;
  listDevices(user: string): Promise<DeviceRecord[]>;
  /** Marks a device revoked; false when the device is unknown. Revocation is permanent. */
  revokeDevice(user: string, device: string, nowMs: number): Promise<boolean>;
  isDeviceRevoked(user: string, device: string): Promise<boolean>;

  /** Creates a conversation and its members in one transaction. */
  createConversation(conv: ConversationRecord, members: MemberRecord[]): Promise<void>;
  /**
   * Creates the direct conversation of two users unless it exists; returns the id that holds
   * (the existing one if another caller won the race).
   */
  openDirect(conv: ConversationRecord, a: string, b: string): Promise<{ id: string; created: boolean }>;
  getConversation(id: string): Promise<ConversationRecord | null>;
  renameConversation(id: string, title: string): Promise<void>;
  /** Sets the disappearing-message timer (seconds, 0: off). */
  setConversationTimer(id: string, seconds: number): Promise<void>;
  listMembers(conv: string): Promise<MemberRecord[]>;
  // Membership changes check their invariants and apply in one transaction, so they hold when
  // several nodes change the same group at once. They throw MembershipError when refused.
  /** Adds the members not already present, unless the group would exceed `maxMembers`; returns the users added. */
  addMembers(conv: string, members: MemberRecord[], maxMembers: number): Promise<string[]>;
  /** Removes a member; refuses to remove the only admin while other members remain. */
  removeMember(conv: string, user: string): Promise<void>;
  /** Grants or revokes admin; refuses to revoke the last admin. */
  setAdmin(conv: string, user: string, admin: boolean): Promise<void>;
  /** The conversations a user belongs to, with the seq of the first message the user receives in each. */
  listUserConversations(user: string): Promise<{ conv: string; joinedSeq: number }[]>;
  /** Raises delivered/read markers; a lower value never lowers a stored one. */
  saveCursors(updates: CursorUpdate[]): Promise<void>;

  /** Records media as it is (the server's own, e.g. thumbnails): no slot, no quota. */
  createMedia(media: MediaRecord): Promise<void>;
  /**
   * Records an upload slot (unattached media with its `expiresAt`) if the owner's quota allows it
   * at `nowMs`: fewer than `quota.maxPending` unattached slots of theirs not yet expired, and at
   * most `quota.maxBytesPerDay` declared bytes in the slots issued on that UTC day, this one
   * included (a slot counts when issued, used or not). Otherwise throws UploadQuotaError and
   * writes nothing. Concurrent reservations of one owner, from any node, never pass it together.
   */
  reserveUpload(media: MediaRecord, quota: UploadQuota, nowMs: number): Promise<void>;
  getMedia(id: string): Promise<MediaRecord | null>;
  /**
   * Ties media to the conversation a message first carries it in, and records the immutable
   * object it is served from. True when this call did it: `owner` owns the media, it was
   * unattached, and its slot had not expired at `nowMs`. False otherwise, and nothing changes:
   * of concurrent calls at most one wins, and a later one never replaces the served object.
   */
  attachMedia(id: string, owner: string, conv: string, objectKey: string, nowMs: number): Promise<boolean>;
  setMediaThumb(id: string, thumb: string): Promise<void>;
  /** Media whose slot has expired at `nowMs` (expiresAt <= nowMs), earliest expiry first, at most `limit`. */
  listExpiredUploads(nowMs: number, limit: number): Promise<MediaRecord[]>;
  /**
   * For expired slots whose upload objects are gone: deletes the records still unattached, and
   * closes the slot (expiresAt = null) of those attached meanwhile. Ids whose slot has not expired
   * at `nowMs` are left alone.
   */
  finishExpiredUploads(ids: string[], nowMs: number): Promise<void>;

  /** Media to be deleted at `atMs` (the media of a disappearing message): an earlier time already set stays. */
  scheduleMediaDeletion(ids: string[], atMs: number): Promise<void>;
  /** Media whose scheduled deletion is due at `nowMs`, earliest first, at most `limit`. */
  listMediaDue(nowMs: number, limit: number): Promise<MediaRecord[]>;
  /** Deletes media records (their objects are deleted first by the caller). */
  deleteMediaRecords(ids: string[]): Promise<void>;

  /** Stores a device's push subscription; the same endpoint again replaces its keys and owner. */
  savePushSubscription(sub: PushSubscriptionRecord): Promise<void>;
  listPushSubscriptions(user: string): Promise<PushSubscriptionRecord[]>;
  deletePushSubscription(endpoint: string): Promise<void>;
  close(): Promise<void>;
}

/** One user's settings of one conversation; a conversation without a record has the defaults. */
export type ChatSettingsRecord = ChatSettings;

export const DEFAULT_CHAT_SETTINGS: Readonly<Omit<ChatSettings, "conv">> = Object.freeze({ muteUntil: 0, archived: false, pinned: false, unread: false });

/**
 * Each user's own view of their conversations, on the metadata database: settings (mute,
 * archive, pin, unread) and the messages they hid for themselves (delete for me).
 */
export interface ChatSettingsStore {
  /** The user's settings of the conversations they belong to that differ from the defaults. */
  listChatSettings(user: string): Promise<ChatSettingsRecord[]>;
  getChatSettings(user: string, conv: string): Promise<ChatSettingsRecord>;
  /** Stores the user's settings of one conversation (all of them). */
  saveChatSettings(user: string, settings: ChatSettingsRecord): Promise<void>;
  /** Of `users`, those who muted `conv` until after `nowMs`. */
  mutedAmong(conv: string, users: string[], nowMs: number): Promise<Set<string>>;
  /** Records that `user` hid these messages of `conv` (again: no change). */
  hideMessages(user: string, conv: string, seqs: number[], nowMs: number): Promise<void>;
  /** The seqs `user` hid in `conv` within [fromSeq, toSeq], ascending. */
  hiddenSeqs(user: string, conv: string, fromSeq: number, toSeq: number): Promise<number[]>;
  /** Conversations in which `user` hid at least one message. */
  hiddenConversations(user: string): Promise<string[]>;
  /** Per conversation the user belongs to, the `perConv` highest seqs they hid, ascending. */
  listHidden(user: string, perConv: number): Promise<HiddenMessages[]>;
}

/**
 * Soft state: who is online where. Losing it may cost a stale presence for one expiry window,
 * never a message.
 */
export interface PresenceStore {
  /** Marks one device of a user connected on a node; true when the user was offline before. */
  deviceOnline(user: string, device: string, node: number, nowMs: number): Promise<boolean>;
  /** Marks it disconnected; true when this took the user's last online device (false if the device was not online). */
  deviceOffline(user: string, device: string, node: number, nowMs: number): Promise<boolean>;
  /** Keeps a device's presence alive (networked backends expire entries without heartbeats). */
  heartbeat(user: string, device: string, node: number, nowMs: number): Promise<void>;
  get(users: string[]): Promise<PresenceInfo[]>;
  /** Devices of a user online anywhere. */
  onlineDevices(user: string): Promise<string[]>;
  /**
   * Calls `handler` when a user went offline without a deviceOffline call: every entry of theirs
   * expired because the nodes holding them stopped heartbeating (crashed). A backend whose
   * entries cannot outlive their process never calls it.
   */
  onExpired(handler: (user: string, lastSeen: number) => void): () => void;
  close(): Promise<void>;
}

export interface TicketClaims {
  user: string;
  device: string;
  /** Access-token expiry (ms since epoch): a connection opened with the ticket ends then. */
  expiresAt: number;
}

/** Short-lived, single-use tickets that let a browser open a WebSocket without a token in the URL. */
export interface TicketStore {
  issue(claims: TicketClaims, ttlMs: number, nowMs: number): Promise<string>;
  /** Returns the claims once; a second redeem, or one after expiry, returns null. */
  redeem(ticket: string, nowMs: number): Promise<TicketClaims | null>;
  close(): Promise<void>;
}
