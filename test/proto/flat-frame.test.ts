// The flat-frame encoder must write exactly the bytes msgpackr writes with the protocol's options,
// for every kind of value it accepts, and give way (null) for everything else.

import { expect, test } from "bun:test";
import { Packr } from "msgpackr";
import { rng } from "../../fuzz/generator.ts";
import { packFlatFrame, packMessageFrame } from "../../src/proto/flat-frame.ts";
import type { WireMessage } from "../../src/proto/types.ts";
import { decodeServerFrame, encodePush, MSGPACK_OPTIONS, unpack } from "../../src/proto/codec.ts";
import { PushKind } from "../../src/proto/codes.ts";

const packr = new Packr(MSGPACK_OPTIONS);


const edgeNumbers = [0, 1, 31, 32, 127, 128, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1, -1, -32, -33, -128, -129, -32768, -32769, -(2 ** 31), -(2 ** 31) - 1, 0.5, -0.25, 1e300, Date.now(), NaN, Infinity, -Infinity, -0];
const edgeBigInts = [0n, 1n, 7250000000000000000n, 2n ** 63n - 1n, 2n ** 63n, 2n ** 64n - 1n, -1n, -(2n ** 63n)];
const edgeStrings = ["", "a", "x".repeat(31), "x".repeat(32), "x".repeat(255), "x".repeat(256), "x".repeat(70_000), "é", "é".repeat(16), "日本語".repeat(11), "😀", "😀".repeat(20), "\ud800 lone", "mixed é 日 😀 ascii"];

function randomValue(r: () => number): unknown {
  switch (Math.floor(r() * 7)) {
    case 0:
      return edgeNumbers[Math.floor(r() * edgeNumbers.length)];
    case 1:
      return edgeBigInts[Math.floor(r() * edgeBigInts.length)];
    case 2:
      return edgeStrings[Math.floor(r() * edgeStrings.length)];
    case 3:
      return new Uint8Array(Math.floor(r() * r() * 70_000)).map((_, i) => i * 7);
    case 4:
      return r() < 0.5;
    case 5:
      return r() < 0.5 ? null : undefined;
    default:
      return Math.floor((r() - 0.5) * 2 ** 40);
  }
}

test("flat frames are byte for byte what msgpackr writes", () => {
  const r = rng(20261129);
  for (let i = 0; i < 1500; i++) {
    const body: Record<string, unknown> = {};
    const n = Math.floor(r() * 20);
    for (let k = 0; k < n; k++) body[edgeStrings[Math.floor(r() * 6)]! + k] = randomValue(r);
    const head = [3, Math.floor(r() * 20), ...(r() < 0.5 ? [Math.floor(r() * 2 ** 32)] : [])];
    const ours = packFlatFrame(head, body);
    expect(ours).not.toBeNull();
    expect(Buffer.from(ours!).equals(packr.pack([...head, body]))).toBe(true);
  }
});

test("anything not flat is left to msgpackr", () => {
  expect(packFlatFrame([3, 1], { list: [1, 2] })).toBeNull();
  expect(packFlatFrame([3, 1], { nested: { a: 1 } })).toBeNull();
  expect(packFlatFrame([3, 1], { when: new Date() })).toBeNull();
  expect(packFlatFrame([3, 1], { words: new Uint16Array(2) })).toBeNull();
  expect(packFlatFrame([3, 1], [1, 2])).toBeNull();
  expect(packFlatFrame([3, 1], new Map([["a", 1]]))).toBeNull();
  expect(packFlatFrame([3, 1], new Date(0))).toBeNull();
  // A map without a prototype is still a plain map.
  const bare = Object.assign(Object.create(null) as object, { a: 1 });
  expect(Buffer.from(packFlatFrame([3, 1], bare)!).equals(packr.pack([3, 1, bare]))).toBe(true);
  // The codec falls back, and the frame still decodes.
  const frame = encodePush(PushKind.Conversation, { conv: { id: "c1", members: [] }, removed: false });
  expect(decodeServerFrame(frame)).toEqual({ type: 3, kind: PushKind.Conversation, body: { conv: { id: "c1", members: [] }, removed: false } });
});

test("a MESSAGE push decodes to the message", () => {
  const msg = { conv: "c1", seq: 42, id: 7250000000000000001n, from: "ann", dev: "phone", cid: "m-1", kind: 1, body: new Uint8Array([1, 2, 3]), ts: 1795955259459, ref: 7 };
  expect(unpack(encodePush(PushKind.Message, msg))).toEqual([3, PushKind.Message, msg]);
});

test("a message's frame is byte for byte what msgpackr writes for it, optional fields or not", () => {
  const r = rng(20261130);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)]!;
  const someNumber = () => pick(edgeNumbers.filter((n) => Number.isFinite(n)));
  for (let i = 0; i < 500; i++) {
    // Built in WireMessage's order, as the stores build them.
    const body = new Uint8Array(Math.floor(r() * r() * 70_000)).map((_, k) => k * 3);
    const msg: WireMessage = { conv: pick(edgeStrings), seq: someNumber(), id: pick(edgeBigInts), from: pick(edgeStrings), dev: pick(edgeStrings), cid: pick(edgeStrings), kind: someNumber(), body, ts: someNumber() };
    if (r() < 0.3) msg.media = pick(edgeStrings);
    if (r() < 0.3) msg.ref = someNumber();
    if (r() < 0.3) msg.edited = someNumber();
    if (r() < 0.3) msg.exp = someNumber();
    expect(Buffer.from(packMessageFrame([3, PushKind.Message], msg)).equals(packr.pack([3, PushKind.Message, msg]))).toBe(true);
  }
});
