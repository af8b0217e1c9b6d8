// The two shapes a page of stored messages is read in, and what MessageView and HiddenFilter need
// of each: a row's seq, whether it is gone already, when it expires, and its tombstone. Messages
// are what commands read; frames (the MESSAGE push bytes, MessageStore.frames) are what a
// backlog streams, so a resume never builds or encodes a message per row. The view's rules
// (message-view.ts) are written once over either shape.

import { MessageKind } from "../proto/codes.ts";
import { messageFrame, messageOfFrame } from "../proto/message-frame.ts";
import { tombstone } from "../safety/removed-messages.ts";
import type { StoredFrame, StoredMessage } from "../storage/types.ts";

const EMPTY = new Uint8Array(0);

export interface PageRows<T> {
  seq(row: T): number;
  /** The row is a tombstone already (removed, or never more than a place). */
  gone(row: T): boolean;
  exp(row: T): number | undefined;
  tombstone(row: T): T;
  placeholder(conv: string, seq: number): T;
}

/** What a seq the store no longer holds reads as: nothing of the message is left but its place. */
export function placeholder(conv: string, seq: number): StoredMessage {
  return { conv, seq, id: 0n, from: "", dev: "", cid: "", kind: MessageKind.Removed, body: EMPTY, ts: 0 };
}

/** Whether `m` is such a placeholder: nothing of the message is left. */
export function isPlaceholder(m: StoredMessage): boolean {
  return m.id === 0n && m.from === "" && m.kind === MessageKind.Removed;
}

export const MESSAGE_ROWS: PageRows<StoredMessage> = {
  seq: (m) => m.seq,
  gone: (m) => m.kind === MessageKind.Removed,
  exp: (m) => m.exp,
  tombstone,
  placeholder,
};

/** A message as a frame row; its frame is the one every device gets (encoded once per object). */
export function frameRow(m: StoredMessage): StoredFrame {
  return { seq: m.seq, kind: m.kind, exp: m.exp ?? null, frame: messageFrame(m) };
}

export const FRAME_ROWS: PageRows<StoredFrame> = {
  seq: (f) => f.seq,
  gone: (f) => f.kind === MessageKind.Removed,
  exp: (f) => f.exp ?? undefined,
  // Rare (a removed, expired or hidden message in a backlog): read back, changed, encoded again.
  tombstone: (f) => frameRow(tombstone(messageOfFrame(f.frame))),
  placeholder: (conv, seq) => frameRow(placeholder(conv, seq)),
};
