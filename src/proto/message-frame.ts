// A message as the bytes of its MESSAGE push. One message object is encoded once however many
// devices, topics or stores take it (the live path encodes it when it is stored, and every local
// delivery reuses that); a store that keeps the bytes (SQLite) replays a backlog without building
// or encoding a message object per row. Read back only for the rare replayed message that must
// change on the way out (it was removed, it expired, the reader hid it).

import { FrameType, PushKind } from "./codes.ts";
import { decodeServerFrame } from "./codec.ts";
import { packMessageFrame } from "./flat-frame.ts";
import type { WireMessage } from "./types.ts";
import { ObjectMemo } from "../object-memo.ts";

const MESSAGE_PUSH = [FrameType.Push, PushKind.Message];
const encoded = new ObjectMemo<WireMessage, Uint8Array>("msgr.messageFrame");

/** The MESSAGE push of `msg`, encoded once per object (so `msg` must not change after). */
export function messageFrame(msg: WireMessage): Uint8Array {
  return encoded.get(msg) ?? encoded.set(msg, packMessageFrame(MESSAGE_PUSH, msg));
}

/** The message a MESSAGE push carries (the server's own frames: their shape is not checked again). */
export function messageOfFrame(frame: Uint8Array): WireMessage {
  const f = decodeServerFrame(frame);
  if (!("kind" in f) || f.kind !== PushKind.Message) throw new Error("not a MESSAGE push");
  return f.body as WireMessage;
}
