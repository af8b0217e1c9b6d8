// Shapes of command parameters, reply results and push bodies in protocol v1.
// Field names are the wire names (MessagePack map keys).

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
}

export interface ConnectParams {
  v: number;
  client?: string;
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

export interface SyncParams {
  /** conversation id -> highest seq this device holds with nothing missing below it. */
  cursors: Record<string, number>;
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

export interface SendParams {
  conv: string;
  cid: string;
  kind: number;
  body: Uint8Array;
  /** A media id from MEDIA_UPLOAD whose upload finished; only with kind Media. */
  media?: string;
  /** This cid was sent before without an ack arriving: the server also checks its long-term duplicate key. */
  resend?: boolean;
}
export interface SendResult {
  id: bigint;
  seq: number;
  ts: number;
  /** True when this client id had already been accepted: the original message is returned. */
  dup: boolean;
}

export interface ReceiptParams {
  conv: string;
  type: number;
  seq: number;
}
export interface TypingParams {
  conv: string;
  on: boolean;
}
export interface HistoryParams {
  conv: string;
  before?: number;
  limit?: number;
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
export interface PresenceSubscribeParams {
  users: string[];
}
export interface PresenceSubscribeResult {
  presence: PresenceInfo[];
}

export interface ConvRef {
  conv: string;
}
export interface DirectOpenParams {
  user: string;
}
export interface GroupCreateParams {
  title: string;
  members: string[];
}
export interface GroupRenameParams {
  conv: string;
  title: string;
}
export interface GroupAddParams {
  conv: string;
  users: string[];
}
export interface GroupRemoveParams {
  conv: string;
  user: string;
}
export interface GroupSetAdminParams {
  conv: string;
  user: string;
  admin: boolean;
}
export interface MembershipResult {
  /** Seq of the system message that records the change. */
  seq: number;
}

export interface DeviceInfo {
  device: string;
  online: boolean;
  lastSeen: number;
  revoked: boolean;
}
export interface DeviceRevokeParams {
  device: string;
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

export interface MediaUploadParams {
  contentType: string;
  size: number;
  /** Hex SHA-256 of the file. */
  sha256: string;
}
export interface MediaUploadResult {
  media: string;
  /** POST multipart/form-data to `url`: every field, then the file as the last field, named "file". */
  upload: { url: string; fields: Record<string, string>; expiresAt: number };
}
export interface MediaUrlParams {
  media: string;
}
export interface MediaUrlResult {
  url: string;
  expiresAt: number;
  contentType: string;
  size: number;
  /** Media id of the thumbnail, when one was made. */
  thumb?: string;
}
export interface PushSubscribeParams {
  endpoint: string;
  p256dh: string;
  auth: string;
}
export interface PushRegisterParams {
  service: "apns" | "fcm";
  token: string;
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
}
