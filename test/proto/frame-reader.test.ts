// The client's frame reader must give exactly what msgpackr gives with the protocol's options,
// refuse what msgpackr refuses, and hand msgpackr what it does not read itself.

import { describe, expect, test } from "bun:test";
import { Packr, Unpackr } from "msgpackr";
import { rng } from "../../fuzz/generator.ts";
import { MSGPACK_OPTIONS } from "../../src/proto/codec.ts";
import { FrameType, PushKind } from "../../src/proto/codes.ts";
import { NOT_READ, readFrame, readMessagePush } from "../../src/proto/frame-reader.ts";
import { messageFrame } from "../../src/proto/message-frame.ts";
import type { WireMessage } from "../../src/proto/types.ts";

const packr = new Packr(MSGPACK_OPTIONS);
const unpackr = new Unpackr(MSGPACK_OPTIONS);


const leaves: unknown[] = [0, 1, 127, 128, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, -1, -32, -33, -128, -129, -32768, -32769, -(2 ** 31), -(2 ** 31) - 1, 0.5, -1e300, NaN, Infinity, 1795955259459, 0n, 7250000000000000000n, 2n ** 64n - 1n, -(2n ** 63n), "", "a", "x".repeat(31), "x".repeat(64), "x".repeat(65), "x".repeat(300), "é", "日本語", "😀", "\ud800 lone", true, false, null, undefined, new Uint8Array(0), new Uint8Array([1, 2, 3]), new Uint8Array(300).fill(9)];
const keys = ["conv", "seq", "body", "__proto__", "é", "x".repeat(40), ""];

function value(r: () => number, depth: number): unknown {
  const k = r();
  if (depth > 3 || k < 0.6) return leaves[Math.floor(r() * leaves.length)];
  if (k < 0.8) return Array.from({ length: Math.floor(r() * r() * 40) }, () => value(r, depth + 1));
  const o: Record<string, unknown> = {};
  for (let i = Math.floor(r() * r() * 40); i > 0; i--) {
    // defineProperty: an assignment to "__proto__" would set the prototype instead.
    Object.defineProperty(o, keys[Math.floor(r() * keys.length)]! + (r() < 0.5 ? i : ""), { value: value(r, depth + 1), enumerable: true, writable: true, configurable: true });
  }
  return o;
}

test("reads what msgpackr reads, to the same values", () => {
  const r = rng(424242);
  for (let i = 0; i < 3000; i++) {
    const bytes = packr.pack(value(r, 0));
    // A Buffer (what Bun's server receives: ASCII strings read by latin1Slice) and a plain Uint8Array (a browser's).
    expect(Buffer.isBuffer(bytes)).toBe(true);
    expect(readFrame(bytes, i % 2 ? "copy" : "view")).toStrictEqual(unpackr.unpack(bytes));
    expect(readFrame(new Uint8Array(bytes), i % 2 ? "view" : "copy")).toStrictEqual(unpackr.unpack(bytes));
  }
  // A 32-bit float and a fixext "__proto__" key written by another encoder.
  const f32 = new Uint8Array([0xca, 0x3f, 0xc0, 0x00, 0x00]);
  expect(readFrame(f32, "view")).toBe(unpackr.unpack(f32) as number);
  const proto = new Uint8Array([0x81, 0xa9, ...new TextEncoder().encode("__proto__"), 0x01]);
  expect(readFrame(proto, "view")).toEqual(unpackr.unpack(proto) as object);
  expect(Object.getPrototypeOf(readFrame(proto, "view"))).toBe(Object.prototype);
});

test("bins asked as copies are copies of their bytes, not views into the frame", () => {
  const frame = packr.pack({ body: new Uint8Array([1, 2, 3]) });
  const { body } = readFrame(frame, "copy") as { body: Uint8Array };
  const view = (readFrame(frame, "view") as { body: Uint8Array }).body;
  expect(body).toEqual(new Uint8Array([1, 2, 3]));
  expect(body.buffer).not.toBe(frame.buffer);
  expect(view.buffer).toBe(frame.buffer);
  frame.fill(0);
  expect(body).toEqual(new Uint8Array([1, 2, 3]));
});

test("truncated and overlong frames throw, as with msgpackr", () => {
  const r = rng(7);
  for (let i = 0; i < 500; i++) {
    const bytes = packr.pack({ body: new Uint8Array(20), list: value(r, 1), s: "text" });
    const cut = bytes.subarray(0, Math.floor(r() * bytes.length));
    expect(() => unpackr.unpack(cut)).toThrow();
    expect(() => readFrame(cut, "view")).toThrow();
  }
  const extra = new Uint8Array([...packr.pack([3, 1, {}]), 0x00]);
  expect(() => readFrame(extra, "view")).toThrow();
});

test("extensions other than undefined, and 0xc1, are left to msgpackr", () => {
  expect(readFrame(packr.pack([1, new Date(0)]), "view")).toBe(NOT_READ);
  expect(readFrame(new Uint8Array([0xc1]), "view")).toBe(NOT_READ);
  expect(readFrame(packr.pack({ gone: undefined }), "view")).toEqual({ gone: undefined });
});

describe("a MESSAGE push read as one object", () => {
  // Conversation ids of each string header (fixstr, str8 under and over the reader's table's
  // 64 bytes, UTF-8), recurring as a client sees them: from the table, they read as decoded.
  const convs = ["c1", `c${"0123456789abcdef".repeat(2)}`, `c${"fedcba9876543210".repeat(2)}`, "é".repeat(20), "c".repeat(63), "c".repeat(64), "c".repeat(300)];
  const message = (r: () => number, i: number): Record<string, unknown> => {
    const m: Record<string, unknown> = { conv: convs[i % convs.length], seq: i + 1, id: BigInt(i) << 22n, from: "alice", dev: "phone", cid: `cid-${i}`, kind: i % 5, body: new Uint8Array([i & 255, 1, 2]), ts: 1_795_955_259_459 + i };
    if (r() < 0.3) m.media = `m${i}`;
    if (r() < 0.3) m.ref = i;
    if (r() < 0.3) m.edited = 1_795_955_259_000 + i;
    if (r() < 0.3) m.exp = 1_795_955_260_000 + i;
    return m;
  };

  test("what the server writes reads as readFrame reads it", () => {
    const r = rng(99);
    for (let i = 0; i < 500; i++) {
      const m = message(r, i);
      const frame = messageFrame(m as unknown as WireMessage);
      const read = readMessagePush(frame, FrameType.Push, PushKind.Message);
      expect(read).toStrictEqual((readFrame(frame, "view") as Record<string, unknown>[])[2]!);
      expect(Object.keys(read as object)).toEqual(Object.keys(m));
    }
  });

  test("keys it does not know are kept, in their order; any other map is readFrame's", () => {
    const r = rng(5);
    const known = message(r, 1);
    const withMore = { ...known, later: [1, 2], "é": "x" };
    const push = (body: unknown) => packr.pack([FrameType.Push, PushKind.Message, body]);
    expect(readMessagePush(push(withMore), FrameType.Push, PushKind.Message)).toStrictEqual(withMore);
    // Another encoder's order of the same keys.
    const reversed = Object.fromEntries(Object.entries(withMore).reverse());
    expect(readMessagePush(push(reversed), FrameType.Push, PushKind.Message)).toStrictEqual(withMore);
    const { ts: _, ...missing } = known;
    // A key that only starts like a message key is another key.
    const lookalike = push({ ...known, __proto__x: 1, conversation: "c" });
    expect(readMessagePush(lookalike, FrameType.Push, PushKind.Message)).toStrictEqual((readFrame(lookalike, "view") as Record<string, unknown>[])[2]!);
    expect(readMessagePush(push({ a: 1 }), FrameType.Push, PushKind.Message)).toBe(NOT_READ);
    expect(readMessagePush(push(missing), FrameType.Push, PushKind.Message)).toBe(NOT_READ);
    expect(readMessagePush(push([1, 2]), FrameType.Push, PushKind.Message)).toBe(NOT_READ);
    expect(readMessagePush(packr.pack([FrameType.Push, PushKind.Receipt, known]), FrameType.Push, PushKind.Message)).toBe(NOT_READ);
    // A key twice (no encoder of ours writes one): left to readFrame, whose rules are msgpackr's.
    const nine = push(message(() => 1, 1));
    expect([...nine.subarray(3, 6)]).toEqual([0xde, 0, 9]);
    const twice = new Uint8Array([0x93, nine[1]!, nine[2]!, 0xde, 0, 10, ...nine.subarray(6), ...packr.pack("seq"), ...packr.pack(5)]);
    expect(readMessagePush(twice, FrameType.Push, PushKind.Message)).toBe(NOT_READ);
    expect(((readFrame(twice, "view") as unknown[])[2] as { seq: number }).seq).toBe(5);
  });

  test("a push cut short throws, as readFrame does", () => {
    const frame = messageFrame(message(rng(3), 3) as unknown as WireMessage);
    for (let n = 5; n < frame.length; n++) {
      const cut = frame.subarray(0, n);
      expect(() => readFrame(cut, "view")).toThrow();
      expect(() => readMessagePush(cut, FrameType.Push, PushKind.Message)).toThrow();
    }
  });
});
