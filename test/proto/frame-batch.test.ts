// The Batch envelope: the frames come back as they went in, whatever their number and sizes (each
// MessagePack header width), and anything that is not a batch of whole bin frames is refused.

import { expect, test } from "bun:test";
import { Packr } from "msgpackr";
import { decodeServerFrame, encodePush, encodeReply } from "../../src/proto/codec.ts";
import { FrameType, PushKind } from "../../src/proto/codes.ts";
import { encodeBatch, frameBoundsOfBatch, isBatch } from "../../src/proto/frame-batch.ts";
import { messageFrame } from "../../src/proto/message-frame.ts";

const bytes = (n: number, fill: number) => new Uint8Array(n).fill(fill);
/** The frames a batch's bounds name, as views. */
const framesOf = (batch: Uint8Array) => {
  const b = frameBoundsOfBatch(batch);
  return Array.from({ length: b.length / 2 }, (_, i) => batch.subarray(b[2 * i], b[2 * i + 1]));
};

test("frames of every header width come back whole and in order, as any MessagePack reader sees them", () => {
  // Counts across fixarray / array16 / array32 headers; lengths across bin8 / bin16 / bin32.
  for (const count of [0, 1, 15, 16, 65_535, 65_536]) {
    const frames = Array.from({ length: count }, (_, i) => bytes(i % 7, i & 0xff));
    const batch = encodeBatch(frames);
    expect(isBatch(batch)).toBe(true);
    expect(framesOf(batch)).toEqual(frames);
  }
  const sized = [bytes(255, 1), bytes(256, 2), bytes(65_535, 3), bytes(65_536, 4), bytes(0, 0)];
  const batch = encodeBatch(sized);
  expect(framesOf(batch)).toEqual(sized);
  // The envelope is plain MessagePack: [4, [bin, ...]].
  const v = new Packr({ useRecords: false }).unpack(batch) as [number, Uint8Array[]];
  expect(v[0]).toBe(FrameType.Batch);
  expect(v[1].map((f) => Uint8Array.from(f))).toEqual(sized);
});

test("a batch's frames decode as the frames they are", () => {
  const a = encodePush(PushKind.Typing, { conv: "c1", user: "u1", typing: true });
  const b = encodePush(PushKind.SyncDone, {});
  const m = messageFrame({ conv: "c1", seq: 7, id: 42n, from: "u1", dev: "d1", cid: "k1", kind: 0, body: bytes(3, 5), ts: 1_700_000_000_000 });
  const batch = encodeBatch([a, m, b]);
  const bounds = frameBoundsOfBatch(batch);
  // Each frame is read where it lies in the batch, as it reads on its own.
  for (const [i, frame] of [a, m, b].entries()) expect(decodeServerFrame(batch, bounds[2 * i], bounds[2 * i + 1])).toEqual(decodeServerFrame(frame));
  expect(decodeServerFrame(batch, bounds[0], bounds[1])).toEqual({ type: FrameType.Push, kind: PushKind.Typing, body: { conv: "c1", user: "u1", typing: true } });
  expect(decodeServerFrame(batch, bounds[2], bounds[3]).body).toMatchObject({ conv: "c1", seq: 7, id: 42n, body: bytes(3, 5) });
  expect(decodeServerFrame(batch, bounds[4], bounds[5])).toEqual({ type: FrameType.Push, kind: PushKind.SyncDone, body: {} });
  // No other server frame reads as a batch.
  expect(isBatch(a)).toBe(false);
  expect(isBatch(b)).toBe(false);
});

test("anything but a batch of whole bin frames is refused", () => {
  const good = encodeBatch([bytes(3, 9), bytes(4, 8)]);
  const refused = [
    encodePush(PushKind.SyncDone, {}),
    good.subarray(0, good.length - 1), // truncated
    Uint8Array.of(...good, 0xc0), // trailing bytes
    Uint8Array.of(0x92, FrameType.Batch, 0x91, 0xa1, 0x61), // a str where a frame goes
    Uint8Array.of(0x92, FrameType.Batch, 0x01), // no array of frames
    Uint8Array.of(0x92, FrameType.Batch, 0xdd, 0xff, 0xff, 0xff, 0xff, 0xc4, 0x00), // more frames than bytes
    Uint8Array.of(0x92, FrameType.Batch, 0x91, 0xc5, 0x01, 0x00, 0x00), // a frame longer than the batch
  ];
  for (const buf of refused) expect(() => frameBoundsOfBatch(buf)).toThrow();
});

test("the example of docs/protocol.md §3.5, byte for byte", () => {
  const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
  const batch = encodeBatch([encodeReply(7, { t: 1_700_000_000_000 }), encodePush(PushKind.SyncDone, {})]);
  expect(hex(batch)).toBe("920492c41294020700de0001a174cb4278bcfe56800000c406930305de0000");
});
