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

/**
 * The Batch envelope of `frames`, which must be whole server frames, in a buffer that the next
 * frame encoded reuses: hand it on at once (Bun's ws.send and publish copy what they are given)
 * or copy it. An envelope is written once and sent at once, so copying it out at its exact size,
 * as the other frames are, cost a copy of every frame it holds: 2.4% of the server's CPU in
 * the 1:1 bench.
 */
export function encodeBatch(frames: readonly Uint8Array[]): Uint8Array {
  return packBatchFrame(FrameType.Batch, frames);
}

/** Whether `buf` is a Batch envelope: fixarray(2), then the Batch type (any other server frame is an array of 3 or 4). */
export function isBatch(buf: Uint8Array): boolean {
  return buf[0] === 0x92 && buf[1] === FrameType.Batch;
}

/**
 * Where the frames of a Batch envelope lie in `buf`: each frame's start and end offsets, in turn
 * (`[start0, end0, start1, end1, ...]`). Throws on anything but a batch of whole bin frames.
 * Offsets rather than views: a client reads each frame where it lies (decodeServerFrame takes the
 * bounds), and a view per frame was a twentieth of the group bench's generator, whose core is the limit.
 */
export function frameBoundsOfBatch(buf: Uint8Array): number[] {
  if (!isBatch(buf)) throw notBatch();
  let p = 2;
  const uint = (bytes: number): number => {
    if (p + bytes > buf.length) throw notBatch();
    let v = 0;
    for (let i = 0; i < bytes; i++) v = v * 256 + buf[p++]!;
    return v;
  };
  const t = uint(1);
  const n = t >= 0x90 && t < 0xa0 ? t & 0x0f : t === 0xdc ? uint(2) : t === 0xdd ? uint(4) : -1;
  // Each frame takes at least two bytes: a count past the end is refused before anything is made.
  if (n < 0 || p + n * 2 > buf.length) throw notBatch();
  const bounds = new Array<number>(n * 2);
  for (let i = 0; i < n; i++) {
    const b = uint(1);
    const len = b === 0xc4 ? uint(1) : b === 0xc5 ? uint(2) : b === 0xc6 ? uint(4) : -1;
    if (len < 0 || p + len > buf.length) throw notBatch();
    bounds[2 * i] = p;
    bounds[2 * i + 1] = p += len;
  }
  if (p !== buf.length) throw notBatch();
  return bounds;
}

const notBatch = () => new Error("not a batch of frames");
