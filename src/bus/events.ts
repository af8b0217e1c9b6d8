// Events that travel on the bus between actors (and, in a cluster, between nodes).

import type { PushKindId } from "../proto/codes.ts";
import type { ConvInfo, PresenceInfo, WireMessage } from "../proto/types.ts";

/** A committed message, on the conversation subject, in seq order. */
export interface MessageEvent {
  t: "msg";
  /** The node whose conversation actor published it (its own actor skips it). */
  origin: number;
  msg: WireMessage;
}

/** A marker's lowest value among members, a holder of it, and the second lowest (the lowest again when two hold it). */
export type LowestTwo = [number, string, number];

/** A member's delivered/read markers moved, on the conversation subject. */
export interface ReceiptEvent {
  t: "receipt";
  origin: number;
  conv: string;
  user: string;
  /** The reader's device that sent the receipt: it knows already, so it is not told. */
  dev: string;
  delivered: number;
  read: number;
  /** Users whose devices get the receipt: the member itself and the senders whose ticks it moves (docs/protocol.md §9.2). */
  to: string[];
  /** Lowest delivered marker among members, its holder, and the second lowest (for "all but me" aggregates). */
  deliveredMin: LowestTwo;
  readMin: LowestTwo;
  /** A direct conversation where one of the two turned read receipts off: read markers are hidden from the other (src/safety/policy.ts). */
  hideRead?: boolean;
}

export interface TypingEvent {
  t: "typing";
  conv: string;
  user: string;
  dev: string;
  on: boolean;
}

/** Membership or title changed, on the conversation subject and on each added/removed user's subject. */
export interface ConversationEvent {
  t: "conv";
  origin: number;
  info: ConvInfo;
  added: string[];
  removed: string[];
}

/**
 * On a user subject: a device of the user connected. A node holding an older connection of the
 * same device closes it (4502), as the node the device connected to does locally.
 */
export interface DeviceConnectedEvent {
  t: "device";
  device: string;
  session: string;
  /** When the connection opened (the connecting node's clock): the older of two goes. */
  at: number;
}

/** On the access subject (every node): one of the user's devices was revoked and must be disconnected. */
export interface RevokeEvent {
  t: "revoke";
  user: string;
  device: string;
}

export interface PresenceEvent {
  t: "presence";
  info: PresenceInfo;
}

/** On the safety subject (every node): a user's blocks, contacts or privacy settings changed; cached copies are stale. */
export interface SafetyChangedEvent {
  t: "safety";
  user: string;
}

/** On the safety subject (every node): moderation removed a message; it is served as a tombstone from now on. */
export interface MessageRemovedEvent {
  t: "removed";
  conv: string;
  seq: number;
  media: string | null;
}

/** On the access subject (every node): the user was banned; every connection of theirs is closed. */
export interface BanEvent {
  t: "ban";
  user: string;
}

/** On the access subject (every node): a ban was lifted. */
export interface UnbanEvent {
  t: "unban";
  user: string;
}

/** On a user subject: a push for every synced device of the user (their block list, settings, invitations...). */
export interface NoticeEvent {
  t: "notice";
  kind: PushKindId;
  body: object;
}

/** On the e2ee subject (every node): a conversation's MLS group changed (a commit, a revoked device in it); cached facts about it are stale. */
export interface E2eeChangedEvent {
  t: "e2ee";
  /** The node that made the change (it updated its own cache already). */
  origin: number;
  conv: string;
}

export type BusEvent =
  | MessageEvent
  | ReceiptEvent
  | TypingEvent
  | ConversationEvent
  | RevokeEvent
  | DeviceConnectedEvent
  | PresenceEvent
  | SafetyChangedEvent
  | MessageRemovedEvent
  | BanEvent
  | UnbanEvent
  | NoticeEvent
  | E2eeChangedEvent;
