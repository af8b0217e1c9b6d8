// The Batch envelope, `[4, [frame, frame, ...]]` with each frame a `bin` holding one whole server
// frame: several frames in one WebSocket message. A client that reads them says so in CONNECT
// (`batch: true`); the server then writes what it has for a socket in one turn as one message,
// and a group's live messages of one turn as one message to every device on its topic. What a
// client pays per WebSocket message (an event, a dispatch, a decode set-up) it then pays once for
// the lot, which in a busy group is most of its work per message.
//
// Each frame stays its own bin, so a reader finds the frames without parsing them and hands each
// to the decoder it already has.

import { FrameType } from "./codes.ts";
import { packBatchFrame } from "./flat-frame.ts";
import { NOT_READ, readFrame } from "./frame-reader.ts";

/** The Batch envelope of `frames`, which must be whole server frames. */
export function encodeBatch(frames: readonly Uint8Array[]): Uint8Array {
  return packBatchFrame(FrameType.Batch, frames);
}

/** Whether `buf` is a Batch envelope: fixarray(2), then the Batch type (any other server frame is an array of 3 or 4). */
export function isBatch(buf: Uint8Array): boolean {
  return buf[0] === 0x92 && buf[1] === FrameType.Batch;
}

/** The frames of a Batch envelope, as views into `buf`. Throws on anything else. */
export function framesOfBatch(buf: Uint8Array): Uint8Array[] {
  const v = isBatch(buf) ? readFrame(buf, "view") : NOT_READ;
  if (Array.isArray(v) && Array.isArray(v[1]) && v[1].every((f) => f instanceof Uint8Array)) return v[1] as Uint8Array[];
  throw new Error("not a batch of frames");
}
