import { expect, test } from "bun:test";
import { ObjectMemo } from "../../src/object-memo.ts";
import { decodeServerFrame, encodePush } from "../../src/proto/codec.ts";
import { FrameType, PushKind } from "../../src/proto/codes.ts";
import { messageFrame } from "../../src/proto/message-frame.ts";

test("a memo keeps one value per object, apart from other memos", () => {
  const a = new ObjectMemo<object, number>("a");
  const b = new ObjectMemo<object, number>("b");
  const x = {};
  const y = {};
  expect(a.get(x)).toBeUndefined();
  expect(a.set(x, 1)).toBe(1);
  b.set(x, 2);
  expect([a.get(x), b.get(x), a.get(y)]).toEqual([1, 2, undefined]);
  a.set(x, 3);
  expect(a.get(x)).toBe(3);
});

test("the kept value is invisible to keys, spread, JSON, msgpack and equality", () => {
  const memo = new ObjectMemo<object, Uint8Array>("frame");
  const msg = { conv: "c1", seq: 1, body: new Uint8Array([1, 2]) };
  const before = encodePush(PushKind.Message, msg);
  memo.set(msg, new Uint8Array([9]));
  expect(Object.keys(msg)).toEqual(["conv", "seq", "body"]);
  expect({ ...msg }).toStrictEqual({ conv: "c1", seq: 1, body: new Uint8Array([1, 2]) });
  expect(msg).toStrictEqual({ conv: "c1", seq: 1, body: new Uint8Array([1, 2]) });
  expect(JSON.stringify(msg)).toBe(JSON.stringify({ conv: "c1", seq: 1, body: new Uint8Array([1, 2]) }));
  expect(encodePush(PushKind.Message, msg)).toEqual(before);
  // A copy does not carry it.
  expect(memo.get({ ...msg })).toBeUndefined();
});

test("messageFrame encodes a message once and reads back as the message", () => {
  const msg = { conv: "c1", seq: 7, id: 1n, from: "alice", dev: "phone", cid: "x", kind: 1, body: new Uint8Array([1]), ts: 5 };
  const frame = messageFrame(msg);
  expect(messageFrame(msg)).toBe(frame);
  expect(decodeServerFrame(frame)).toEqual({ type: FrameType.Push, kind: PushKind.Message, body: msg });
});
