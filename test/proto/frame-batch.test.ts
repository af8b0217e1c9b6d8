// The Batch envelope: the frames come back as they went in, whatever their number and sizes (each
// MessagePack header width), and anything that is not a batch of whole bin frames is refused.

import { expect, test } from "bun:test";
import { Packr } from "msgpackr";
import { decodeServerFrame, encodePush, encodeReply } from "../../src/proto/codec.ts";
import { FrameType, PushKind } from "../../src/proto/codes.ts";
import { encodeBatch, framesOfBatch, isBatch } from "../../src/proto/frame-batch.ts";

const bytes = (n: number, fill: number) => new Uint8Array(n).fill(fill);

test("frames of every header width come back whole and in order, as any MessagePack reader sees them", () => {
  // Counts across fixarray / array16 / array32 headers; lengths across bin8 / bin16 / bin32.
  for (const count of [0, 1, 15, 16, 65_535, 65_536]) {
    const frames = Array.from({ length: count }, (_, i) => bytes(i % 7, i & 0xff));
    const batch = encodeBatch(frames);
    expect(isBatch(batch)).toBe(true);
    expect(framesOfBatch(batch)).toEqual(frames);
  }
  const sized = [bytes(255, 1), bytes(256, 2), bytes(65_535, 3), bytes(65_536, 4), bytes(0, 0)];
  const batch = encodeBatch(sized);
  expect(framesOfBatch(batch)).toEqual(sized);
  // The envelope is plain MessagePack: [4, [bin, ...]].
  const v = new Packr({ useRecords: false }).unpack(batch) as [number, Uint8Array[]];
  expect(v[0]).toBe(FrameType.Batch);
  expect(v[1].map((f) => Uint8Array.from(f))).toEqual(sized);
});

test("a batch's frames decode as the frames they are", () => {
  const a = encodePush(PushKind.Typing, { conv: "c1", user: "u1", typing: true });
  const b = encodePush(PushKind.SyncDone, {});
  const [x, y] = framesOfBatch(encodeBatch([a, b]));
  expect(decodeServerFrame(x!)).toEqual({ type: FrameType.Push, kind: PushKind.Typing, body: { conv: "c1", user: "u1", typing: true } });
  expect(decodeServerFrame(y!)).toEqual({ type: FrameType.Push, kind: PushKind.SyncDone, body: {} });
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
  ];
  for (const buf of refused) expect(() => framesOfBatch(buf)).toThrow();
});

test("the example of docs/protocol.md §3.5, byte for byte", () => {
  const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
  const batch = encodeBatch([encodeReply(7, { t: 1_700_000_000_000 }), encodePush(PushKind.SyncDone, {})]);
  expect(hex(batch)).toBe("920492c41294020700de0001a174cb4278bcfe56800000c406930305de0000");
});
