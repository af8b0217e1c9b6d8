// Shapes of command parameters, reply results and push bodies in protocol v1.
// Field names are the wire names (MessagePack map keys).

import type { Method } from "./codes.ts";
import type { ParamsOf } from "./schema.ts";

// ---- command parameters: derived from the schemas in schema.ts, never written twice ----

export type ConnectParams = ParamsOf<typeof Method.Connect>;
export type SyncParams = ParamsOf<typeof Method.Sync>;
export type SendParams = ParamsOf<typeof Method.Send>;
export type ReceiptParams = ParamsOf<typeof Method.Receipt>;
export type TypingParams = ParamsOf<typeof Method.Typing>;
export type HistoryParams = ParamsOf<typeof Method.History>;
export type PresenceSubscribeParams = ParamsOf<typeof Method.PresenceSubscribe>;
export type DirectOpenParams = ParamsOf<typeof Method.DirectOpen>;
export type GroupCreateParams = ParamsOf<typeof Method.GroupCreate>;
export type GroupRenameParams = ParamsOf<typeof Method.GroupRename>;
export type GroupAddParams = ParamsOf<typeof Method.GroupAdd>;
export type GroupRemoveParams = ParamsOf<typeof Method.GroupRemove>;
export type GroupSetAdminParams = ParamsOf<typeof Method.GroupSetAdmin>;
export type DeviceRevokeParams = ParamsOf<typeof Method.DeviceRevoke>;
export type MediaUploadParams = ParamsOf<typeof Method.MediaUpload>;
export type MediaUrlParams = ParamsOf<typeof Method.MediaUrl>;
export type PushSubscribeParams = ParamsOf<typeof Method.PushSubscribe>;
export type ConvRef = ParamsOf<typeof Method.ConvGet>;
export type PushUnsubscribeParams = ParamsOf<typeof Method.PushUnsubscribe>;
export type PushRegisterParams = ParamsOf<typeof Method.PushRegister>;
export type UserRef = ParamsOf<typeof Method.Block>;
export type PrivacySetParams = ParamsOf<typeof Method.PrivacySet>;
export type UserListParams = ParamsOf<typeof Method.ContactAdd>;
export type LinkCreateParams = ParamsOf<typeof Method.LinkCreate>;
export type LinkRevokeParams = ParamsOf<typeof Method.LinkRevoke>;
export type LinkJoinParams = ParamsOf<typeof Method.LinkJoin>;
export type JoinRequestAnswerParams = ParamsOf<typeof Method.JoinRequestAnswer>;
export type ReportParams = ParamsOf<typeof Method.Report>;
export type ReportedMessage = NonNullable<ReportParams["messages"]>[number];
export type MessageRef = ParamsOf<typeof Method.Delete>;
export type HideParams = ParamsOf<typeof Method.Hide>;
export type TimerSetParams = ParamsOf<typeof Method.TimerSet>;
export type SettingsSetParams = ParamsOf<typeof Method.SettingsSet>;
export type KeyPackageUploadParams = ParamsOf<typeof Method.KeyPackageUpload>;
export type MlsCommitParams = ParamsOf<typeof Method.MlsCommit>;

export interface WireMessage {
  conv: string;
  /** Per-conversation sequence, 1, 2, 3, ... with no gaps. */
  seq: number;
  /** 64-bit time-sortable server id (ms since 2025-01-01 << 22 | node << 12 | counter). */
  id: bigint;
  from: string;
  /** Sending device; empty for server-written system messages. */
  dev: string;
  /** Client-chosen id; empty for system messages. */
  cid: string;
  kind: number;
  body: Uint8Array;
  /** Server acceptance time, ms since the Unix epoch. */
  ts: number;
  /** Media id for kind Media messages that carry an upload (fetch it with MEDIA_URL). */
  media?: string;
  /** Edit, Reaction: the seq of the message they apply to; any other kind: the message it replies to. */
  ref?: number;
  /** The message was edited: the time of the latest edit (ms), whose body it carries. */
  edited?: number;
  /** Disappearing message: when it is deleted (ms since the epoch). */
  exp?: number;
}

export interface MemberInfo {
  user: string;
  admin: boolean;
  /** Seq of the first message this member receives (the system message that added them). */
  joined: number;
  /** Highest seq any device of this member acknowledged. */
  delivered: number;
  /** This member's read marker. */
  read: number;
}

export interface ConvInfo {
  id: string;
  type: number;
  title: string;
  lastSeq: number;
  members: MemberInfo[];
  /** Disappearing messages: seconds after which new messages are deleted; absent when off. */
  timer?: number;
}

export interface ConnectResult {
  v: number;
  user: string;
  device: string;
  node: number;
  session: string;
  heartbeatMs: number;
  heartbeatTimeoutMs: number;
  limits: {
    maxFrameBytes: number;
    maxBodyBytes: number;
    maxGroupSize: number;
    maxDepth: number;
    maxContainerItems: number;
    maxStringBytes: number;
  };
}

export interface SyncConvState {
  conv: string;
  /** First seq that will be pushed. */
  from: number;
  /** Last seq that will be pushed (the conversation's last seq when SYNC was handled). */
  to: number;
  /** The cursor could not be resumed (history before `from` is gone, or the cursor is ahead of the server): drop local state for this conversation. */
  reset?: boolean;
  /** The user is no longer a member: the conversation is closed for this device. */
  removed?: boolean;
}
/** One entry for every conversation the user belongs to (from > to: nothing to send), plus `removed` ones the device named. */
export interface SyncResult {
  convs: SyncConvState[];
}

export interface SendResult {
  id: bigint;
  seq: number;
  ts: number;
  /** True when this client id had already been accepted: the original message is returned. */
  dup: boolean;
  /** Disappearing message: when it is deleted (ms since the epoch). */
  exp?: number;
  /** A forward of a message with media: the media id this message carries (the server's copy). */
  media?: string;
}

export interface HistoryResult {
  /** Newest first. */
  messages: WireMessage[];
  more: boolean;
}

export interface PresenceInfo {
  user: string;
  online: boolean;
  /** ms since epoch of the last disconnect; 0 when unknown or hidden. */
  lastSeen: number;
}
export interface PresenceSubscribeResult {
  presence: PresenceInfo[];
}

export interface MembershipResult {
  /** Seq of the system message that records the change. */
  seq: number;
}

/** GROUP_ADD: those whose privacy settings do not let the caller add them were invited instead. */
export interface GroupAddResult {
  /** Seq of the MembersAdded system message; 0 when nobody was added directly. */
  seq: number;
  /** Users sent an invitation (INVITATION push) instead of being added. */
  invited: string[];
}

/** GROUP_CREATE: the group, and who was invited instead of added. */
export interface GroupCreateResult extends ConvInfo {
  invited: string[];
}

/** Who a privacy setting admits ([§10.3] of docs/protocol.md). */
export type Visibility = "everyone" | "contacts" | "nobody";

export interface PrivacySettings {
  /** Who sees when this user was last online. */
  lastSeen: Visibility;
  /** Who sees that this user is online now. */
  online: Visibility;
  /** Who may add this user to a group; anyone else sends an invitation. */
  groupAdd: Visibility;
  /** Read markers in direct conversations: off hides this user's and, in return, the other's. */
  readReceipts: boolean;
}

export interface UserListResult {
  users: string[];
}

/** An invitation to a group, for a user whose settings did not let the inviter add them. */
export interface Invitation {
  conv: string;
  title: string;
  /** The admin who invited. */
  by: string;
  /** ms since the epoch. */
  at: number;
}
export interface InvitationPush {
  invitation: Invitation;
  /** true: accepted, declined, or the group is gone: forget it. */
  removed: boolean;
}

export interface InviteLink {
  token: string;
  conv: string;
  by: string;
  at: number;
  /** Joins wait for an admin's approval (JOIN_REQUEST_ANSWER). */
  approval: boolean;
}

export interface LinkJoinResult {
  conv: string;
  /** The join waits for an admin's approval; the CONVERSATION push follows if it is approved. */
  pending: boolean;
  /** Seq of the Joined system message; 0 while pending. */
  seq: number;
}

export interface JoinRequest {
  conv: string;
  user: string;
  at: number;
}
export interface JoinRequestPush {
  request: JoinRequest;
  /** true: approved or declined by an admin. */
  removed: boolean;
}

/** One user's own settings of one conversation, the same on all their devices. */
export interface ChatSettings {
  conv: string;
  /** Pushes for new messages are suppressed until this time (ms since the epoch); 0: not muted. */
  muteUntil: number;
  archived: boolean;
  pinned: boolean;
  /** Marked unread by the user (cleared by the user's clients when they open it). */
  unread: boolean;
}

/** Messages a user hid for themselves (delete for me) in one conversation. */
export interface HiddenMessages {
  conv: string;
  seqs: number[];
}

export interface SettingsListResult {
  /** Every conversation of the user whose settings differ from the defaults. */
  settings: ChatSettings[];
  /** Per conversation, the seqs the user hid (the most recent MAX_HIDDEN_LISTED of them). */
  hidden: HiddenMessages[];
}

export interface ReportResult {
  id: number;
}

export interface DeviceInfo {
  device: string;
  online: boolean;
  lastSeen: number;
  revoked: boolean;
}

export interface ReceiptPush {
  conv: string;
  user: string;
  delivered: number;
  read: number;
  /** From the receiving user's point of view: every member other than the receiver has delivered / read up to these seqs. */
  allDelivered: number;
  allRead: number;
}
export interface TypingPush {
  conv: string;
  user: string;
  dev: string;
  on: boolean;
}
export interface ConversationPush {
  conv: ConvInfo;
  removed: boolean;
}

export interface MediaUploadResult {
  media: string;
  /** POST multipart/form-data to `url`: every field, then the file as the last field, named "file". */
  upload: { url: string; fields: Record<string, string>; expiresAt: number };
}
export interface MediaUrlResult {
  url: string;
  expiresAt: number;
  contentType: string;
  size: number;
  /** Media id of the thumbnail, when one was made. */
  thumb?: string;
}
export interface PushRegisterResult {
  /** The subscription's endpoint, "apns:<token>" or "fcm:<token>": what PUSH_UNSUBSCRIBE takes. */
  endpoint: string;
}

/** Body of a System message (MessageKind.System), MessagePack-encoded. */
export interface SystemEvent {
  op: number;
  by: string;
  users?: string[];
  title?: string;
  /** ThumbnailReady: the media, its thumbnail, and the seq of the message that carried it. */
  media?: string;
  thumb?: string;
  ref?: number;
  /** TimerChanged: the new timer in seconds (0: off). */
  timer?: number;
}

// ---- end-to-end encryption (MLS) ----------------------------------------------------------------

/** KEY_PACKAGE_UPLOAD, KEY_PACKAGE_COUNT, and the KEY_PACKAGES push: one device's stock. */
export interface KeyPackageCount {
  /** The device these count (the push goes to every device of the user). */
  device: string;
  /** KeyPackages left to claim, the last-resort one not counted. */
  count: number;
  /** Whether a last-resort KeyPackage is stored (claimed when no other is left, and never used up). */
  lastResort: boolean;
}

/** A user's device, as MLS credentials name it. */
export interface DeviceRef {
  user: string;
  device: string;
}

export interface ClaimedKeyPackage extends DeviceRef {
  /** An MLSMessage (mls_key_package). */
  keyPackage: Uint8Array;
  /** It was the device's last-resort package: it stays stored, others may claim it too. */
  lastResort: boolean;
}

export interface KeyPackageClaimResult {
  packages: ClaimedKeyPackage[];
  /** Devices the group is missing that have no KeyPackage to claim. */
  none: DeviceRef[];
}

export interface MlsCommitResult {
  /** Seq of the MlsCommit message carrying it. */
  seq: number;
  /** The group's epoch after it. */
  epoch: number;
}

export interface MlsLeaf extends DeviceRef {
  leaf: number;
}

/** MLS_GROUP: the conversation's MLS group as the server tracks it (docs/protocol.md §16). */
export interface MlsGroupInfo {
  /** The MLS group id; absent while the conversation is not end-to-end encrypted. */
  group?: Uint8Array;
  epoch: number;
  /** Seq of the message carrying the commit that started `epoch` (0 before the first). */
  commitSeq: number;
  leaves: MlsLeaf[];
  /** Leaves the next commit must remove: members who left and revoked devices. */
  stale: number[];
  /** Members' devices with KeyPackages that are not in the group yet. */
  missing: DeviceRef[];
}

/** Body of an MlsCommit message (MessagePack). */
export interface MlsHandshake {
  /** MLSMessage: the PublicMessage commit. */
  commit: Uint8Array;
  /** MLSMessage: the Welcome of the devices the commit adds. */
  welcome?: Uint8Array;
  /** The ratchet tree after the commit (RFC 9420 §12.4.3.3 encoding), for the Welcome's recipients. */
  tree?: Uint8Array;
  /** Or: the media id it was uploaded as (the message's `media` too). */
  treeMedia?: string;
}
