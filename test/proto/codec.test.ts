// The codec alone: round trips, and a fuzz loop proving that no input makes the decoder throw
// anything but a FrameError with a protocol code.

import { describe, expect, test } from "bun:test";
import { ErrorCode, Method } from "../../src/proto/codes.ts";
import { decodeCommand, encodeCommand, FrameError, pack } from "../../src/proto/codec.ts";
import { DEFAULT_DECODE_LIMITS } from "../../src/proto/limits.ts";
import { scanMsgpack } from "../../src/proto/scan.ts";

const codeOf = (bytes: Uint8Array) => {
  try {
    decodeCommand(bytes);
    return 0;
  } catch (e) {
    if (!(e instanceof FrameError)) throw e;
    return e.code;
  }
};

describe("codec", () => {
  test("a command round-trips with its params validated and copied", () => {
    const body = new Uint8Array([1, 2, 3]);
    const f = decodeCommand(encodeCommand(7, Method.Send, { conv: "c1", cid: "x-1", kind: 1, body, extra: "ignored" }));
    expect(f).toEqual({ id: 7, method: Method.Send, params: { conv: "c1", cid: "x-1", kind: 1, body: expect.any(Uint8Array) } });
    const resent = decodeCommand(encodeCommand(8, Method.Send, { conv: "c1", cid: "x-1", kind: 1, body, resend: true }));
    expect(resent.params).toEqual({ conv: "c1", cid: "x-1", kind: 1, body: expect.any(Uint8Array), resend: true });
    if (f.method !== Method.Send) throw new Error("expected SEND");
    expect([...f.params.body]).toEqual([1, 2, 3]);
  });

  // The SEND handler keeps the body (the store's batch, deliveries) without copying it again.
  test("a command's bins are its own: they outlive the frame's buffer being reused", () => {
    const frame = encodeCommand(9, Method.Send, { conv: "c1", cid: "x-2", kind: 1, body: new Uint8Array([4, 5, 6]) });
    const f = decodeCommand(frame);
    if (f.method !== Method.Send) throw new Error("expected SEND");
    expect(f.params.body.buffer).not.toBe(frame.buffer);
    frame.fill(0);
    expect([...f.params.body]).toEqual([4, 5, 6]);
  });

  test("64-bit ids survive as bigint", () => {
    const id = (1n << 62n) + 5n;
    expect(scanMsgpack(pack({ id }), DEFAULT_DECODE_LIMITS)).toBeNull();
  });

  test("envelope and parameter errors carry their codes and the command id", () => {
    expect(codeOf(pack([1, 5, 999, {}]))).toBe(ErrorCode.UnknownMethod);
    expect(codeOf(pack([2, 5, 1, {}]))).toBe(ErrorCode.BadFrame);
    expect(codeOf(pack([1, -1, 1, {}]))).toBe(ErrorCode.BadFrame);
    expect(codeOf(pack([1, 5, Method.Send, { conv: "c", cid: "x", kind: 1, body: "text, not bytes" }]))).toBe(ErrorCode.InvalidParams);
    expect(codeOf(pack([1, 5, Method.Send, { conv: "c", cid: "x", kind: 1, body: new Uint8Array(1), resend: "yes" }]))).toBe(ErrorCode.InvalidParams);
    expect(codeOf(pack([1, 5, Method.Receipt, { conv: "c", type: 1, seq: -3 }]))).toBe(ErrorCode.InvalidParams);
    expect(codeOf(pack([1, 5, Method.ConvGet, { conv: "bad.id*" }]))).toBe(ErrorCode.InvalidParams);
    let caught: unknown;
    try {
      decodeCommand(pack([1, 77, Method.ConvGet, { conv: 3 }]));
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(FrameError);
    expect((caught as FrameError).id).toBe(77);
  });

  test("structural limits are enforced before decoding", () => {
    let deep: unknown = 1;
    for (let i = 0; i < 50; i++) deep = [deep];
    expect(scanMsgpack(pack(deep), DEFAULT_DECODE_LIMITS)).toBe("too-deep");
    expect(scanMsgpack(new Uint8Array([0xdd, 0xff, 0xff, 0xff, 0xff, 0x01]), DEFAULT_DECODE_LIMITS)).toBe("too-many-items");
    expect(scanMsgpack(new Uint8Array([0xdb, 0xff, 0xff, 0xff, 0xff]), DEFAULT_DECODE_LIMITS)).toBe("string-too-long");
    expect(scanMsgpack(new Uint8Array([0xc6, 0xff, 0xff, 0xff, 0xff]), DEFAULT_DECODE_LIMITS)).toBe("truncated");
    expect(scanMsgpack(new Uint8Array([0xd6, 0xff, 0, 0, 0, 0]), DEFAULT_DECODE_LIMITS)).toBe("extension-type");
    expect(scanMsgpack(new Uint8Array([0xc1]), DEFAULT_DECODE_LIMITS)).toBe("reserved-byte");
    expect(scanMsgpack(new Uint8Array([0x81, 0x01, 0x01]), DEFAULT_DECODE_LIMITS)).toBe("non-string-key");
    expect(scanMsgpack(pack({ ["__proto__"]: 1 }), DEFAULT_DECODE_LIMITS)).not.toBeNull();
    expect(scanMsgpack(new Uint8Array([0x81, 0xab, ...new TextEncoder().encode("constructor"), 0x01]), DEFAULT_DECODE_LIMITS)).toBe("forbidden-key");
    expect(scanMsgpack(new Uint8Array([0x01, 0x02]), DEFAULT_DECODE_LIMITS)).toBe("trailing-bytes");
    expect(codeOf(new Uint8Array(DEFAULT_DECODE_LIMITS.maxFrameBytes + 1))).toBe(ErrorCode.FrameTooLarge);
  });

  test("fuzz: random and mutated frames only ever yield protocol errors", () => {
    // A deterministic generator, so a failure reproduces.
    let seed = 0x2545f491;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    const valid = encodeCommand(3, Method.Send, { conv: "conv-1", cid: "c", kind: 1, body: new Uint8Array(40) });
    const codes = new Set<number>();
    for (let i = 0; i < 20_000; i++) {
      let bytes: Uint8Array;
      if (i % 2 === 0) {
        bytes = new Uint8Array(Math.floor(rnd() * 64)).map(() => Math.floor(rnd() * 256));
      } else {
        bytes = valid.slice(0, 1 + Math.floor(rnd() * valid.length));
        for (let k = 0; k < 3; k++) bytes[Math.floor(rnd() * bytes.length)] = Math.floor(rnd() * 256);
      }
      codes.add(codeOf(bytes));
    }
    for (const c of codes) expect([0, ErrorCode.BadFrame, ErrorCode.UnknownMethod, ErrorCode.InvalidParams]).toContain(c);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
