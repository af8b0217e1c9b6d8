// Hostile frames over a real, authenticated WebSocket: each is answered with a precise error
// code (or a close, where the case calls for one), nothing is half-applied, the connection keeps
// working afterwards, the server's memory does not balloon, and other users never notice.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect } from "node:net";
import { encodeCommand, pack } from "../../src/proto/codec.ts";
import { DisconnectCode, ErrorCode, Method, type MethodId } from "../../src/proto/codes.ts";
import type { Client } from "../../src/sdk/index.ts";
import { HARNESS_START_MS, nextEvent, startHarness, text, until, type Harness } from "../helpers/harness.ts";
import { forEachTopology } from "../helpers/topology.ts";
import { RawConn, within } from "./ws.ts";

const MAX_FRAME = 8192;
const MAX_BODY = 4096;

forEachTopology((topology) => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ limits: { maxFrameBytes: MAX_FRAME, maxBodyBytes: MAX_BODY } }, { topology });
  }, HARNESS_START_MS);
  afterAll(() => h.stop());

  // ---- byte building ----------------------------------------------------------------------------

  const te = new TextEncoder();

  function cat(...parts: (Uint8Array | number[])[]): Uint8Array {
    const arrays = parts.map((p) => (p instanceof Uint8Array ? p : Uint8Array.from(p)));
    const out = new Uint8Array(arrays.reduce((n, a) => n + a.length, 0));
    let o = 0;
    for (const a of arrays) {
      out.set(a, o);
      o += a.length;
    }
    return out;
  }

  /** A string in fixstr encoding (< 32 bytes). */
  function fixstr(s: string): Uint8Array {
    const b = te.encode(s);
    if (b.length > 31) throw new Error("fixstr too long");
    return cat([0xa0 | b.length], b);
  }

  /** A command envelope [1, id, method, <params bytes>] around hand-made params. */
  function envelope(id: number, method: number, params: Uint8Array): Uint8Array {
    return cat([0x94, 0x01], pack(id), pack(method), params);
  }

  /** A one-entry map {key: <value bytes>} with a fixstr key. */
  function map1(key: Uint8Array, value: Uint8Array | number[]): Uint8Array {
    return cat([0x81], key, value);
  }

  /** Deterministic garbage (mulberry32). */
  function prng(seed: number): () => number {
    return () => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  // ---- connections ------------------------------------------------------------------------------

  let devices = 0;
  /** A fresh, CONNECTed raw connection (each has its own protocol-error budget). */
  async function fresh(user = "raw"): Promise<RawConn> {
    const c = await RawConn.connected(h.server.wsUrl, await h.token(user, `dev${++devices}`));
    opened.push(c);
    return c;
  }
  const opened: RawConn[] = [];
  afterAll(() => {
    for (const c of opened) c.close();
  });

  /**
   * Sends `bytes`; expects an error reply with id 0, `code`, and (optionally) a message containing
   * `why`; then checks the same connection still answers a PING.
   */
  async function expectFrameError(c: RawConn, bytes: Uint8Array | string, code: number, why?: string): Promise<void> {
    const r = await c.hostile(bytes);
    expect(r.code).toBe(code);
    if (why !== undefined) expect(r.message).toContain(why);
    await c.expectAlive();
  }

  /** Sends a command with `id`; expects an error reply echoing `id` with `code`; the connection still answers. */
  async function expectCommandError(c: RawConn, id: number, method: number, params: unknown, code: number): Promise<string> {
    c.send(encodeCommand(id, method as MethodId, params as object));
    const r = await c.reply(id);
    expect(r.code).toBe(code);
    await c.expectAlive();
    return (r.body as { message: string }).message;
  }

  // A conversation with a raw device and an SDK peer, to check what was and was not stored.
  let alice: Client;
  let bob: Client;
  let conv: string;
  async function storedBodies(): Promise<string[]> {
    return (await bob.history(conv, undefined, 200)).messages.map(text).reverse();
  }
  beforeAll(async () => {
    alice = await h.client("alice", "a-sdk");
    bob = await h.client("bob", "b-sdk");
    conv = (await alice.openDirect("bob")).id;
  });

  const sendParams = (cid: string, body: Uint8Array | string = "ok") => ({ conv, cid, kind: 1, body: typeof body === "string" ? te.encode(body) : body });

  // ---- cases ------------------------------------------------------------------------------------

  describe("unreadable frames: BadFrame (1000) with id 0, connection survives", () => {
    test("random garbage", async () => {
      const c = await fresh();
      const rand = prng(0x5eed);
      for (let i = 0; i < 10; i++) {
        const bytes = Uint8Array.from({ length: 1 + Math.floor(rand() * 200) }, () => Math.floor(rand() * 256));
        await expectFrameError(c, bytes, ErrorCode.BadFrame);
      }
      await expectFrameError(c, Uint8Array.of(0xc1), ErrorCode.BadFrame, "reserved-byte");
      await expectFrameError(c, new Uint8Array(0), ErrorCode.BadFrame);
      await c.expectAlive();
    });

    test("valid MessagePack that is not a command envelope", async () => {
      const c = await fresh();
      for (const v of [null, 42, "hello", { a: 1 }, [], [1, 5, 2], [1, 5, 2, {}, 9], [2, 5, 2, {}], [3, 5, 2, {}]]) {
        await expectFrameError(c, pack(v), ErrorCode.BadFrame);
      }
      // Command ids must be integers in 0..2^32-1; the id is not echoed when it is unusable.
      for (const id of [-1, 2 ** 32, 1.5, "7"]) await expectFrameError(c, pack([1, id, Method.Ping, {}]), ErrorCode.BadFrame, "command id");
      await c.expectAlive();
    });

    test("a truncated frame (a valid SEND cut short) is refused and not applied", async () => {
      const c = await fresh("alice");
      const before = await storedBodies();
      const full = encodeCommand(77, Method.Send, sendParams("trunc-1", "cut short"));
      for (const cut of [1, 4, Math.floor(full.length / 2), full.length - 1]) {
        await expectFrameError(c, full.subarray(0, cut), ErrorCode.BadFrame, "truncated");
      }
      await c.expectAlive();
      expect(await storedBodies()).toEqual(before);
    });

    test("trailing bytes after a valid SEND (or two SENDs in one frame): refused, nothing stored", async () => {
      const c = await fresh("alice");
      const before = await storedBodies();
      const one = encodeCommand(78, Method.Send, sendParams("trail-1", "trailing"));
      await expectFrameError(c, cat(one, [0x00]), ErrorCode.BadFrame, "trailing-bytes");
      await expectFrameError(c, cat(one, encodeCommand(79, Method.Send, sendParams("trail-2", "second"))), ErrorCode.BadFrame, "trailing-bytes");
      await c.expectAlive();
      expect(await storedBodies()).toEqual(before);
      // The same SEND alone is fine: the refusals above were about the frame, not the command.
      c.send(one);
      expect((await c.reply(78)).code).toBe(0);
      expect(await storedBodies()).toEqual([...before, "trailing"]);
    });

    test("nesting: 100 (and 8000) deep is refused as too-deep; the documented depth is accepted", async () => {
      const c = await fresh();
      const nested = (n: number) => cat(new Array(n).fill(0x91), [0xc0]);
      await expectFrameError(c, envelope(3, Method.Ping, nested(100)), ErrorCode.BadFrame, "too-deep");
      await expectFrameError(c, cat(new Array(100).fill(0x91), [0xc0]), ErrorCode.BadFrame, "too-deep");
      // Deep enough to overflow a naive recursive decoder, still under maxFrameBytes.
      await expectFrameError(c, envelope(3, Method.Ping, map1(fixstr("x"), nested(8000))), ErrorCode.BadFrame, "too-deep");
      // Envelope = depth 1, params = 2, then four arrays: depth 6 = maxDepth, accepted (unknown fields are ignored)...
      c.send(envelope(4, Method.Ping, map1(fixstr("x"), nested(4))));
      expect((await c.reply(4)).code).toBe(0);
      // ...one more level is refused.
      await expectFrameError(c, envelope(5, Method.Ping, map1(fixstr("x"), nested(5))), ErrorCode.BadFrame, "too-deep");
      await c.expectAlive();
    });

    test("huge length prefixes are refused without allocating (server RSS stays flat)", async () => {
      const c = await fresh();
      const cases: [Uint8Array, string][] = [
        // array32 claiming 2^32-1 items, then a few bytes.
        [Uint8Array.of(0xdd, 0xff, 0xff, 0xff, 0xff, 0x01, 0x02, 0x03), "too-many-items"],
        // map32 claiming 2^32-1 entries.
        [Uint8Array.of(0xdf, 0xff, 0xff, 0xff, 0xff, 0xa1, 0x61, 0x01), "too-many-items"],
        // str32 of 4 GiB.
        [cat([0xdb, 0xff, 0xff, 0xff, 0xff], te.encode("abc")), "string-too-long"],
        // bin32 of 4 GiB.
        [cat([0xc6, 0xff, 0xff, 0xff, 0xff], te.encode("abc")), "truncated"],
        // array16 / map16 claiming more than the frame holds.
        [Uint8Array.of(0xdc, 0x27, 0x10, 0x01), "truncated"],
        [Uint8Array.of(0xde, 0x27, 0x10, 0xa1, 0x61, 0x01), "truncated"],
        // The same inside an otherwise valid command.
        [envelope(9, Method.Ping, map1(fixstr("x"), [0xdd, 0xff, 0xff, 0xff, 0xff, 0x01])), "too-many-items"],
        [envelope(9, Method.Ping, map1(fixstr("x"), [0xdf, 0xff, 0xff, 0xff, 0xff, 0x01])), "too-many-items"],
        [envelope(9, Method.Ping, map1(fixstr("x"), cat([0xdb, 0xff, 0xff, 0xff, 0xff], te.encode("abc")))), "string-too-long"],
        [envelope(9, Method.Send, map1(fixstr("body"), cat([0xc6, 0xff, 0xff, 0xff, 0xfe], te.encode("abc")))), "truncated"],
        // A map key claiming 4 GiB.
        [envelope(9, Method.Ping, cat([0x81, 0xdb, 0xff, 0xff, 0xff, 0xff], te.encode("k"), [0x01])), "string-too-long"],
      ];
      // The server's resident memory, summed over its processes (this one, on the embedded topology).
      const rss = () => h.metric("msgr_process_resident_memory_bytes");
      Bun.gc(true);
      const rss0 = await rss();
      for (const [bytes, why] of cases) await expectFrameError(c, bytes, ErrorCode.BadFrame, why);
      Bun.gc(true);
      const grown = (await rss()) - rss0;
      expect(grown).toBeLessThan(50 * 1024 * 1024);
      await c.expectAlive();
    });

    test("extension types are refused: fixext, ext8, timestamp (-1)", async () => {
      const c = await fresh();
      const exts: number[][] = [
        [0xd4, 0x01, 0x00], // fixext1, type 1
        [0xd5, 0x72, 0x00, 0x00], // fixext2 (msgpackr record type)
        [0xd6, 0xff, 0x00, 0x00, 0x00, 0x00], // timestamp32 (ext -1)
        [0xd7, 0xff, 0, 0, 0, 0, 0, 0, 0, 0], // timestamp64
        [0xc7, 0x0c, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], // timestamp96 in ext8
        [0xc7, 0x03, 0x01, 0xaa, 0xbb, 0xcc], // ext8
        [0xc8, 0x00, 0x01, 0x65, 0x00], // ext16
        [0xc9, 0x00, 0x00, 0x00, 0x01, 0x65, 0x00], // ext32
        [0xd8, 0x01, ...new Array(16).fill(0)], // fixext16
      ];
      for (const e of exts) await expectFrameError(c, envelope(6, Method.Ping, map1(fixstr("t"), e)), ErrorCode.BadFrame, "extension-type");
      // At the top level too.
      await expectFrameError(c, Uint8Array.of(0xd6, 0xff, 0, 0, 0, 0), ErrorCode.BadFrame, "extension-type");
      await c.expectAlive();
    });

    test("__proto__, constructor and prototype keys are refused, in any string encoding, at any depth", async () => {
      const c = await fresh();
      const polluting = map1(fixstr("polluted"), [0xc3]);
      const protoKey = te.encode("__proto__");
      const keys = [
        fixstr("__proto__"),
        cat([0xd9, protoKey.length], protoKey), // str8
        cat([0xda, 0x00, protoKey.length], protoKey), // str16
        cat([0xdb, 0x00, 0x00, 0x00, protoKey.length], protoKey), // str32
        fixstr("constructor"),
        fixstr("prototype"),
      ];
      for (const k of keys) {
        await expectFrameError(c, envelope(7, Method.Ping, map1(k, polluting)), ErrorCode.BadFrame, "forbidden-key");
      }
      // Nested inside a SEND's params (a map in an unknown field).
      await expectFrameError(c, envelope(7, Method.Send, map1(fixstr("extra"), map1(fixstr("__proto__"), polluting))), ErrorCode.BadFrame, "forbidden-key");
      // Non-string keys are refused as well.
      await expectFrameError(c, envelope(7, Method.Ping, map1(Uint8Array.of(0x01), [0x02])), ErrorCode.BadFrame, "non-string-key");

      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      expect(Object.prototype.hasOwnProperty.call(Object.prototype, "polluted")).toBe(false);
      // As values (not keys) these strings are ordinary data.
      c.send(envelope(8, Method.Ping, map1(fixstr("x"), fixstr("__proto__"))));
      expect((await c.reply(8)).code).toBe(0);
      await c.expectAlive();
    });

    test("a text frame is BadFrame", async () => {
      const c = await fresh();
      await expectFrameError(c, "hello", ErrorCode.BadFrame, "text frames");
      await expectFrameError(c, JSON.stringify([1, 1, Method.Ping, {}]), ErrorCode.BadFrame, "text frames");
      await c.expectAlive();
    });
  });

  describe("frame size limits", () => {
    /** A PING padded with an ignored bin field to exactly `size` bytes. */
    function pingOfSize(id: number, size: number): Uint8Array {
      const head = (n: number) => cat([0x94, 0x01], pack(id), pack(Method.Ping), [0x81], fixstr("pad"), [0xc6, (n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]);
      const n = size - head(0).length;
      return cat(head(n), new Uint8Array(n));
    }

    test("exactly maxFrameBytes is decoded; one byte more is FrameTooLarge (1001) and the connection stays open", async () => {
      const c = await fresh();
      const ok = pingOfSize(11, MAX_FRAME);
      expect(ok.length).toBe(MAX_FRAME);
      c.send(ok);
      expect((await c.reply(11)).code).toBe(0);
      await expectFrameError(c, pingOfSize(12, MAX_FRAME + 1), ErrorCode.FrameTooLarge);
      // A SEND over the frame limit is refused before decoding: nothing stored.
      const before = await storedBodies();
      await expectFrameError(c, encodeCommand(13, Method.Send, sendParams("big-1", new Uint8Array(3 * MAX_FRAME))), ErrorCode.FrameTooLarge);
      await c.expectAlive();
      expect(await storedBodies()).toEqual(before);
    });

    test("up to the hard cap (1 MiB here) still gets FrameTooLarge", async () => {
      const c = await fresh();
      const hardCap = Math.max(4 * MAX_FRAME, 1 << 20);
      await expectFrameError(c, new Uint8Array(16 * 1024), ErrorCode.FrameTooLarge);
      await expectFrameError(c, new Uint8Array(hardCap), ErrorCode.FrameTooLarge);
      await c.expectAlive();
    });

    test("beyond the hard cap the connection is closed at once; others are unaffected", async () => {
      const c = await fresh();
      const bystander = await fresh();
      const hardCap = Math.max(4 * MAX_FRAME, 1 << 20);
      c.send(new Uint8Array(hardCap + 1));
      const code = await c.closedWithin(5000);
      // edge.ts documents 1009; Bun (uWebSockets) drops the TCP connection without a close frame,
      // which a client reports as 1006. Both mean "closed for size"; see the report.
      expect([1006, 1009]).toContain(code);
      await bystander.expectAlive();
    });

    test("beyond the hard cap the server closes on the frame header alone, without waiting for (buffering) the payload", async () => {
      const hardCap = Math.max(4 * MAX_FRAME, 1 << 20);
      const sock = connect(h.server.port, "127.0.0.1");
      await new Promise<void>((resolve, reject) => {
        sock.once("connect", resolve);
        sock.once("error", reject);
      });
      let received = Buffer.alloc(0);
      const tcpClosed = new Promise<void>((resolve) => sock.once("close", () => resolve()));
      sock.on("data", (d: Buffer) => {
        received = Buffer.concat([received, d]);
      });
      sock.on("error", () => {});
      const token = await h.token("raw", `tcp-${++devices}`);
      sock.write(
        "GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n" +
          `Sec-WebSocket-Key: ${Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString("base64")}\r\nAuthorization: Bearer ${token}\r\n\r\n`,
      );
      await until(() => received.includes("\r\n\r\n"), 5000, "the handshake response");
      const head = received.subarray(0, received.indexOf("\r\n\r\n") + 4).toString("latin1");
      expect(head.startsWith("HTTP/1.1 101")).toBe(true);
      received = received.subarray(head.length);
      // A masked binary frame header announcing hardCap + 1 bytes; the payload is never sent.
      const hdr = Buffer.alloc(14);
      hdr[0] = 0x82;
      hdr[1] = 0x80 | 127;
      hdr.writeBigUInt64BE(BigInt(hardCap + 1), 2);
      hdr.writeUInt32BE(0x11223344, 10);
      sock.write(hdr);
      await within(tcpClosed, 3000, "server closing an oversized frame");
      // Nothing but (at most) a close frame came back, and if one did, it says 1009.
      if (received.length > 0) {
        expect(received[0]).toBe(0x88);
        expect(received.readUInt16BE(2)).toBe(1009);
      }
    });
  });

  describe("well-formed frames with bad contents", () => {
    test("unknown method: UnknownMethod (1002) with the command id echoed", async () => {
      const c = await fresh();
      await expectCommandError(c, 4242, 99, {}, ErrorCode.UnknownMethod);
      await expectCommandError(c, 4243, 0, {}, ErrorCode.UnknownMethod);
      await expectCommandError(c, 4244, 0xffff, {}, ErrorCode.UnknownMethod);
      c.send(pack([1, 4245, "ping", {}]));
      expect((await c.reply(4245)).code).toBe(ErrorCode.UnknownMethod);
      c.send(pack([1, 4246, 2.5, {}]));
      expect((await c.reply(4246)).code).toBe(ErrorCode.UnknownMethod);
      await c.expectAlive();
    });

    test("wrong parameter types: InvalidParams (1003) with the id echoed, and nothing stored", async () => {
      const c = await fresh("alice");
      const before = await storedBodies();
      const good = sendParams("typed-ok", "typed ok");
      const bad: [number, unknown][] = [
        [Method.Send, { ...good, cid: "t1", body: "a string, not bytes" }],
        [Method.Send, { ...good, cid: "t2", body: [1, 2, 3] }],
        [Method.Send, { ...good, cid: "t3", body: null }],
        [Method.Send, { conv, cid: "t4", kind: 1 }],
        [Method.Send, { ...good, cid: "t5", conv: "../../etc/passwd" }],
        [Method.Send, { ...good, cid: "t6", conv: "c with spaces" }],
        [Method.Send, { ...good, cid: "t7", conv: "x".repeat(65) }],
        [Method.Send, { ...good, cid: "t8", kind: 0 }],
        [Method.Send, { ...good, cid: "t9", kind: 256 }],
        // Kind 3 (System) is well-typed but written by the server only.
        [Method.Send, { ...good, cid: "t11", kind: 3 }],
        [Method.Send, { ...good, cid: "has space" }],
        [Method.Send, { ...good, cid: "" }],
        [Method.Send, [conv, "t10", 1, te.encode("array params")]],
        [Method.Receipt, { conv, type: 2, seq: -1 }],
        [Method.Receipt, { conv, type: 2, seq: 1.5 }],
        [Method.Receipt, { conv, type: 3, seq: 1 }],
        [Method.Receipt, { conv, type: 2, seq: 2n ** 60n }],
        [Method.History, { conv, limit: 0 }],
        [Method.History, { conv, limit: 201 }],
      ];
      let id = 500;
      for (const [method, params] of bad) await expectCommandError(c, ++id, method, params, ErrorCode.InvalidParams);
      await c.expectAlive();
      expect(await storedBodies()).toEqual(before);
      // The well-typed SEND on the same connection is stored, once.
      const ok = await c.request(Method.Send, good);
      expect(ok.code).toBe(0);
      expect(await storedBodies()).toEqual([...before, "typed ok"]);
    });

    test("a command before CONNECT: NotConnected (1004) with the id echoed; CONNECT then works", async () => {
      const c = await RawConn.open(h.server.wsUrl, await h.token("alice", `pre-${++devices}`));
      opened.push(c);
      const before = await storedBodies();
      expect((await c.request(Method.Ping, {})).code).toBe(ErrorCode.NotConnected);
      const s = await c.request(Method.Send, sendParams("pre-1", "before connect"));
      expect(s.code).toBe(ErrorCode.NotConnected);
      expect(s.id).toBeGreaterThan(0);
      expect((await c.request(Method.Connect, { v: 1 })).code).toBe(0);
      // CONNECT twice is AlreadyConnected, and does not end the connection.
      expect((await c.request(Method.Connect, { v: 1 })).code).toBe(ErrorCode.AlreadyConnected);
      await c.expectAlive();
      expect(await storedBodies()).toEqual(before);
    });

    test("CONNECT with v:2: UnsupportedVersion (1006) reply, then close 4501", async () => {
      const c = await RawConn.open(h.server.wsUrl, await h.token("raw", `v2-${++devices}`));
      opened.push(c);
      const r = await c.request(Method.Connect, { v: 2 });
      expect(r.code).toBe(ErrorCode.UnsupportedVersion);
      expect(await c.closedWithin(2000)).toBe(DisconnectCode.UnsupportedVersion);
    });

    test("a body over maxBodyBytes: BodyTooLarge (1007), nothing stored; maxBodyBytes exactly is fine", async () => {
      const c = await fresh("alice");
      const before = await storedBodies();
      const big = await c.request(Method.Send, sendParams("body-big", new Uint8Array(MAX_BODY + 1).fill(0x61)));
      expect(big.code).toBe(ErrorCode.BodyTooLarge);
      await c.expectAlive();
      expect(await storedBodies()).toEqual(before);
      const edge = await c.request(Method.Send, sendParams("body-max", new Uint8Array(MAX_BODY).fill(0x62)));
      expect(edge.code).toBe(0);
      expect(await storedBodies()).toEqual([...before, "b".repeat(MAX_BODY)]);
    });
  });

  describe("abuse", () => {
    test("more than maxProtocolErrors bad frames within 10 s closes the connection with 4500", async () => {
      const max = h.config.limits.maxProtocolErrors;
      expect(max).toBe(20);
      const c = await fresh();
      const kinds = [Uint8Array.of(0xc1), pack([1, 9, 99, {}]), encodeCommand(9, Method.Receipt, { conv, type: 9, seq: 1 }), "text", new Uint8Array(MAX_FRAME + 1)];
      for (let i = 0; i < max; i++) {
        c.send(kinds[i % kinds.length]!);
        const r = await c.next((f) => f.type === 2 && f.code !== 0, 5000, `error reply ${i}`);
        expect(r.type).toBe(2);
      }
      // At the limit, not over it: still served.
      await c.expectAlive();
      c.send(Uint8Array.of(0xc1));
      expect(await c.closedWithin(2000)).toBe(DisconnectCode.ProtocolViolation);
    });

    test("other users are unaffected by the barrage: a fresh SDK pair exchanges a message", async () => {
      // Meanwhile, one more abusive connection floods garbage.
      const abuser = await fresh();
      for (let i = 0; i < 100; i++) abuser.send(Uint8Array.of(0xc1, i));
      const p = await h.client("pat", "p1");
      const q = await h.client("quinn", "q1");
      const cv = await p.openDirect("quinn");
      const got = nextEvent(q, "message", (m) => m.conv === cv.id);
      const ack = await p.send(cv.id, "still fine");
      const m = await got;
      expect(text(m)).toBe("still fine");
      expect(m.seq).toBe(ack.seq);
      expect(await abuser.closedWithin(5000)).toBe(DisconnectCode.ProtocolViolation);
      // The SDK pair that was connected throughout never dropped.
      expect(alice.connected && bob.connected).toBe(true);
      const atAlice = nextEvent(alice, "message", (x) => x.conv === conv && text(x) === "after barrage");
      await bob.send(conv, "after barrage");
      await atAlice;
    });
  });
});
