// Numeric enums of protocol v1. Values are part of the wire format: never renumber, only append.
// docs/protocol.md is the normative description; keep both in the same commit.

export const PROTOCOL_VERSION = 1;
/** WebSocket subprotocol a v1 client offers; the server echoes it. */
export const SUBPROTOCOL = "msgr.v1";
/** Prefix of the subprotocol entry that carries a bearer token (browsers cannot set headers). */
export const BEARER_SUBPROTOCOL_PREFIX = "bearer.";

/** First element of every frame: which envelope it is. */
export const FrameType = {
  Command: 1,
  Reply: 2,
  Push: 3,
  /** Several server frames in one WebSocket message, for a client that asked for them in CONNECT (frame-batch.ts). */
  Batch: 4,
} as const;

/** Commands a client sends. */
export const Method = {
  Connect: 1,
  Ping: 2,
  Sync: 3,
  Send: 4,
  Receipt: 5,
  Typing: 6,
  History: 7,
  PresenceSubscribe: 8,
  ConvList: 9,
  ConvGet: 10,
  DirectOpen: 11,
  GroupCreate: 12,
  GroupRename: 13,
  GroupAdd: 14,
  GroupRemove: 15,
  GroupSetAdmin: 16,
  DeviceList: 17,
  DeviceRevoke: 18,
  MediaUpload: 19,
  MediaUrl: 20,
  PushSubscribe: 21,
  PushUnsubscribe: 22,
  PushRegister: 23,
  Block: 24,
  Unblock: 25,
  BlockList: 26,
  PrivacyGet: 27,
  PrivacySet: 28,
  ContactList: 29,
  ContactAdd: 30,
  ContactRemove: 31,
  InvitationList: 32,
  InvitationAccept: 33,
  InvitationDecline: 34,
  LinkCreate: 35,
  LinkList: 36,
  LinkRevoke: 37,
  LinkJoin: 38,
  JoinRequestList: 39,
  JoinRequestAnswer: 40,
  Report: 41,
  /** Delete for everyone: the sender (within messages.deleteWindowSec) or a group admin. */
  Delete: 42,
  /** Delete for me: hides messages on every device of the caller. */
  Hide: 43,
  /** The conversation's disappearing-message timer. */
  TimerSet: 44,
  /** The caller's own settings of one conversation (mute, archive, pin, unread). */
  SettingsSet: 45,
  SettingsList: 46,
  /** End-to-end encryption (MLS, RFC 9420): this device's KeyPackages, claims for a group, commits, the group's roster. */
  KeyPackageUpload: 47,
  KeyPackageCount: 48,
  KeyPackageClaim: 49,
  MlsCommit: 50,
  MlsGroup: 51,
} as const;
export type MethodId = (typeof Method)[keyof typeof Method];

/** Pushes the server sends without being asked. */
export const PushKind = {
  Message: 1,
  Receipt: 2,
  Presence: 3,
  Typing: 4,
  /** The backlog requested by SYNC has been sent in full; live traffic follows. */
  SyncDone: 5,
  /** A conversation this user belongs to was created, changed, or the user was removed from it. */
  Conversation: 6,
  /** The user's block list changed (on any of their devices): the whole list. */
  Blocks: 7,
  /** The user's privacy settings changed: all of them. */
  Privacy: 8,
  /** The user's contact list changed: the whole list. */
  Contacts: 9,
  /** An invitation to a group arrived, or was answered (removed). */
  Invitation: 10,
  /** Someone asked to join a group this user administers through a link that needs approval, or the request was answered. */
  JoinRequest: 11,
  /** The user's settings of one conversation changed (on any of their devices). */
  ChatSettings: 12,
  /** The user hid messages for themselves (delete for me, on any of their devices). */
  Hidden: 13,
  /** One of this user's devices has this many KeyPackages left (its first upload, or a claim left it low). */
  KeyPackages: 14,
} as const;
export type PushKindId = (typeof PushKind)[keyof typeof PushKind];

/** What a message body is. The body itself is opaque bytes to the server. */
export const MessageKind = {
  Text: 1,
  Media: 2,
  /** Written by the server only (membership and title changes); body is a MessagePack SystemEvent. */
  System: 3,
  /**
   * Written by the server only: what a message that is gone reads as (empty body): deleted for
   * everyone, removed by moderation, hidden by the reader (delete for me), or disappeared.
   */
  Removed: 4,
  /** A new body for the sender's own message `ref` (within messages.editWindowSec). */
  Edit: 5,
  /** The sender's reaction to message `ref`; an empty body removes it. The latest one per member and message counts. */
  Reaction: 6,
  /** End-to-end encrypted: body is an MLS PrivateMessage (application content) of the conversation's group. */
  Mls: 7,
  /** Written by the server only, from MLS_COMMIT: body is a MessagePack MlsHandshake (the commit, and its Welcome). */
  MlsCommit: 8,
} as const;
export type MessageKindId = (typeof MessageKind)[keyof typeof MessageKind];

export const ReceiptType = {
  Delivered: 1,
  Read: 2,
} as const;

export const ConvType = {
  Direct: 1,
  Group: 2,
} as const;

/** Operation carried by a System message body. */
export const SystemOp = {
  Created: 1,
  Renamed: 2,
  MembersAdded: 3,
  MemberRemoved: 4,
  AdminGranted: 5,
  AdminRevoked: 6,
  MemberLeft: 7,
  /** A thumbnail was made for the media of message `ref`. */
  ThumbnailReady: 8,
  /** Message `ref` was deleted for everyone (`by`: its sender or a group admin) or removed by moderation (`by` empty): clients drop their copy. */
  MessageRemoved: 9,
  /** `by` joined by their own choice: an accepted invitation or an invite link. */
  Joined: 10,
  /** `by` set the disappearing-message timer to `timer` seconds (0: off). */
  TimerChanged: 11,
} as const;

/**
 * Reply error codes. The range tells the client what to do:
 *   0            success
 *   1000..1999   the command is wrong or not allowed: retrying it unchanged fails the same way
 *   2000..2999   temporary: retry the same command (same client id for SEND) after a backoff
 */
export const ErrorCode = {
  Ok: 0,
  BadFrame: 1000,
  FrameTooLarge: 1001,
  UnknownMethod: 1002,
  InvalidParams: 1003,
  NotConnected: 1004,
  AlreadyConnected: 1005,
  UnsupportedVersion: 1006,
  BodyTooLarge: 1007,
  NotFound: 1100,
  Forbidden: 1101,
  GroupFull: 1102,
  Conflict: 1103,
  /** One of the two users blocked the other. */
  Blocked: 1104,
  /** The message's edit or delete window has passed. */
  WindowClosed: 1105,
  /**
   * An MLS commit for an epoch other than the group's current one (another commit won: process it,
   * then commit again on top), or an application message from an epoch older than the window.
   */
  EpochStale: 1106,
  /** The MLS group still holds devices that must leave it (removed members, revoked devices): commit their removal first. */
  CommitRequired: 1107,
  /** Malformed or unacceptable MLS data: not decodable, another ciphersuite or group, expired, badly signed, replayed, or naming someone else. */
  InvalidMls: 1108,
  /** The conversation is end-to-end encrypted: only MLS messages (kind Mls) are accepted. */
  EncryptionRequired: 1109,
  RateLimited: 2000,
  Unavailable: 2001,
  Internal: 2002,
} as const;
export type ErrorCodeId = (typeof ErrorCode)[keyof typeof ErrorCode];

export function isRetryableError(code: number): boolean {
  return code >= 2000 && code <= 2999;
}

/**
 * WebSocket close codes. The range tells the client whether to reconnect:
 *   4000..4499   reconnect with backoff and jitter, then SYNC from the stored cursors
 *   4500..4999   do not reconnect with the same credentials
 */
export const DisconnectCode = {
  Shutdown: 4000,
  HeartbeatTimeout: 4001,
  SlowConsumer: 4002,
  ServerError: 4003,
  ConnectTimeout: 4004,
  /** The connection kept sending commands that were refused for their rate. */
  Flooding: 4005,
  /** The access token expired: obtain a fresh one, then reconnect. */
  TokenExpired: 4010,
  ProtocolViolation: 4500,
  UnsupportedVersion: 4501,
  /** A newer connection of the same device took over; reconnecting would fight it. */
  Replaced: 4502,
  DeviceRevoked: 4503,
  /** The user was banned by the service's moderators. */
  UserBanned: 4504,
} as const;
export type DisconnectCodeId = (typeof DisconnectCode)[keyof typeof DisconnectCode];

export function shouldReconnect(closeCode: number): boolean {
  if (closeCode >= 4500 && closeCode <= 4999) return false;
  // 1000-class closes (normal, going away, abnormal 1006, too big 1009) are transport events: reconnect.
  return true;
}
