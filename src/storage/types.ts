// Storage interfaces. Every backend (embedded SQLite and in-memory now; PostgreSQL, Redis,
// ScyllaDB later) implements these and runs the same contract suites in test/contract/.
// All methods are async so that networked backends fit without changing the callers.

import type { PresenceInfo, WireMessage } from "../proto/types.ts";

/** A stored message is exactly what goes on the wire. Rows are written once and never updated. */
export type StoredMessage = WireMessage;

/** A message before the store gives it its place in the conversation. */
export type NewMessage = Omit<StoredMessage, "seq">;

export interface AppendResult {
  message: StoredMessage;
  /** The sender had already stored this client id: `message` is the original, nothing was written. */
  duplicate: boolean;
}

export interface AppendOptions {
  /**
   * The client says it sent this client id before and got no ack. Stores whose duplicate check
   * is not free on every append (the log-backed one: a store read) check their long-term key
   * only then; the others check every append anyway.
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
   * original is returned with `duplicate: true`. Concurrent appends share one commit (group
   * commit), and seqs follow the order of the append calls.
   */
  append(msg: NewMessage, opts?: AppendOptions): Promise<AppendResult>;
  /** Highest stored seq of a conversation, 0 when it has none. */
  lastSeq(conv: string): Promise<number>;
  /** Lowest seq still retained, or lastSeq + 1 when everything was pruned, 1 for an empty conversation. */
  firstRetainedSeq(conv: string): Promise<number>;
  /** Messages with seq > afterSeq, ascending, at most `limit`. */
  range(conv: string, afterSeq: number, limit: number): Promise<StoredMessage[]>;
  /** Messages with seq < beforeSeq, descending (newest first), at most `limit`. */
  history(conv: string, beforeSeq: number, limit: number): Promise<StoredMessage[]>;
  /** For each sender, the highest seq it sent in the conversation. */
  lastSeqBySender(conv: string): Promise<Map<string, number>>;
  /** Deletes messages accepted before `tsMs`; returns how many. Sequences are never reused. */
  pruneBefore(tsMs: number): Promise<number>;
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
  /** Hex SHA-256 the uploader declared. */
  sha256: string;
  createdAt: number;
  conv: string | null;
  /** Media id of the generated thumbnail, once there is one. */
  thumb: string | null;
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

export interface MetadataStore {
  /**
   * Records that a device connected: its last-seen time, or the device itself on first sight
   * unless the user already has `maxDevices` devices that are not revoked. The count and the
   * insert are one transaction, so concurrent first connections cannot exceed the cap.
   */
  touchDevice(user: string, device: string, nowMs: number, maxDevices: number): Promise<DeviceAdmission>;
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
  /** Whether two users are members of at least one common conversation. */
  sharesConversation(a: string, b: string): Promise<boolean>;

  createMedia(media: MediaRecord): Promise<void>;
  getMedia(id: string): Promise<MediaRecord | null>;
  /**
   * Ties media to the conversation a message first carries it in. True when `owner` owns it and
   * it is unattached or already attached to `conv`; false otherwise (nothing changes).
   */
  attachMedia(id: string, owner: string, conv: string): Promise<boolean>;
  setMediaThumb(id: string, thumb: string): Promise<void>;

  /** Stores a device's push subscription; the same endpoint again replaces its keys and owner. */
  savePushSubscription(sub: PushSubscriptionRecord): Promise<void>;
  listPushSubscriptions(user: string): Promise<PushSubscriptionRecord[]>;
  deletePushSubscription(endpoint: string): Promise<void>;
  close(): Promise<void>;
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
