// Behaviour every MessageStore backend must show. Each backend's test file calls
// messageStoreContract() with a factory that opens a fresh, empty store.

import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { encodePush } from "../../src/proto/codec.ts";
import { MessageKind, PushKind } from "../../src/proto/codes.ts";
import { messageOfFrame } from "../../src/proto/message-frame.ts";
import type { AppendResult, MessageStore, NewMessage, StoredMessage } from "../../src/storage/types.ts";

export type OpenMessageStore = () => Promise<{ store: MessageStore; close: () => Promise<void> }>;

/** The n-th test message of a conversation; n makes its id, cid, body and ts distinct. */
export function message(conv: string, n: number, fields: Partial<NewMessage> = {}): NewMessage {
  return {
    conv,
    id: BigInt(n) << 22n,
    from: "alice",
    dev: "phone",
    cid: `${conv}-${n}`,
    kind: 1,
    body: new TextEncoder().encode(`message ${n}`),
    ts: 1_700_000_000_000 + n,
    ...fields,
  };
}

/** What the store should hold for `msg` once it got `seq`. */
const stored = (msg: NewMessage, seq: number): StoredMessage => ({ ...msg, seq });

const seqs = (messages: StoredMessage[]) => messages.map((m) => m.seq);
const fresh = (message: StoredMessage): AppendResult => ({ message, duplicate: false });
const range1 = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** A message no backend can store: its body is not bytes. It makes the commit it joins fail. */
export function unstorable(conv: string, n: number): NewMessage {
  return message(conv, n, { body: null as unknown as Uint8Array });
}

export interface ContractOptions {
  /** False for stores whose retention is a TTL set at write time: the pruneBefore tests do not apply. */
  prunes?: boolean;
  /** True for stores that keep each message's frame (MessageStore.frames). */
  frames?: boolean;
}

export function messageStoreContract(name: string, open: OpenMessageStore, { prunes = true, frames = false }: ContractOptions = {}): void {
  describe(name, () => {
    let store: MessageStore;
    let close: () => Promise<void>;

    beforeEach(async () => {
      ({ store, close } = await open());
    });
    afterEach(async () => {
      await close();
    });

    /** Appends `count` messages one at a time; returns them as stored (seqs 1..count when the conversation is new). */
    async function appendAll(conv: string, count: number): Promise<StoredMessage[]> {
      const out: StoredMessage[] = [];
      for (let n = 1; n <= count; n++) out.push((await store.append(message(conv, n))).message);
      return out;
    }

    test("an empty conversation has lastSeq 0, firstRetainedSeq 1 and no messages", async () => {
      expect(await store.lastSeq("none")).toBe(0);
      expect(await store.firstRetainedSeq("none")).toBe(1);
      expect(await store.range("none", 0, 10)).toEqual([]);
      expect(await store.history("none", 100, 10)).toEqual([]);
      expect(await store.lastSeqBySender("none")).toEqual(new Map());
    });

    test("appends get seqs 1, 2, 3 in call order and resolve with the stored message", async () => {
      const [a, b, c] = [message("c1", 1), message("c1", 2, { from: "bob" }), message("c1", 3)];
      expect(await store.append(a)).toEqual(fresh(stored(a, 1)));
      expect(await store.append(b)).toEqual(fresh(stored(b, 2)));
      expect(await store.append(c)).toEqual(fresh(stored(c, 3)));
      expect(await store.append(message("c2", 1))).toEqual(fresh(stored(message("c2", 1), 1)));
      expect(await store.range("c1", 0, 10)).toEqual([stored(a, 1), stored(b, 2), stored(c, 3)]);
      expect(await store.lastSeq("c1")).toBe(3);
      expect(await store.lastSeq("c2")).toBe(1);
    });

    test("range returns messages after a seq, ascending, up to the limit", async () => {
      const c1 = await appendAll("c1", 5);
      await appendAll("c2", 2);
      expect(await store.range("c1", 0, 10)).toEqual(c1);
      expect(seqs(await store.range("c1", 2, 2))).toEqual([3, 4]);
      expect(await store.range("c1", 5, 10)).toEqual([]);
      expect(await store.range("c1", 0, 0)).toEqual([]);
      expect(await store.lastSeq("c1")).toBe(5);
      expect(await store.lastSeq("c2")).toBe(2);
    });

    test("history returns messages before a seq, newest first, up to the limit", async () => {
      await appendAll("c1", 5);
      expect(seqs(await store.history("c1", 6, 10))).toEqual([5, 4, 3, 2, 1]);
      expect(seqs(await store.history("c1", 4, 2))).toEqual([3, 2]);
      expect(await store.history("c1", 1, 10)).toEqual([]);
    });

    test("64-bit ids above 2^53 round-trip exactly", async () => {
      const big = message("c1", 1, { id: (1n << 62n) + 12345n });
      const max = message("c1", 2, { id: (1n << 63n) - 1n });
      await store.append(big);
      await store.append(max);
      const [first, second] = await store.range("c1", 0, 10);
      expect(first?.id).toBe((1n << 62n) + 12345n);
      expect(second?.id).toBe((1n << 63n) - 1n);
      // The original a duplicate answers with is read back from storage.
      expect((await store.append(message("c1", 3, { cid: big.cid }))).message.id).toBe(big.id);
      expect((await store.history("c1", 3, 1))[0]?.id).toBe(max.id);
    });

    test("body bytes round-trip, including every byte value and the empty body", async () => {
      const all = Uint8Array.from({ length: 256 }, (_, i) => i);
      await store.append(message("c1", 1, { body: all }));
      await store.append(message("c1", 2, { body: new Uint8Array(0) }));
      const [first, second] = await store.range("c1", 0, 10);
      expect(first?.body).toBeInstanceOf(Uint8Array);
      expect(first?.body).toEqual(all);
      expect(second?.body).toEqual(new Uint8Array(0));
      const dup = await store.append(message("c1", 3, { cid: message("c1", 1).cid }));
      expect(dup.message.body).toBeInstanceOf(Uint8Array);
      expect(dup.message.body).toEqual(all);
    });

    test("a media id round-trips through append, range, history and a duplicate's original", async () => {
      const media = `m${"0123456789abcdef".repeat(2)}`;
      const withMedia = message("c1", 1, { kind: MessageKind.Media, media });
      const plain = message("c1", 2);
      expect(await store.append(withMedia)).toEqual(fresh(stored(withMedia, 1)));
      expect(await store.append(plain)).toEqual(fresh(stored(plain, 2)));

      const [first, second] = await store.range("c1", 0, 10);
      expect(first).toEqual(stored(withMedia, 1));
      expect(first?.media).toBe(media);
      // Absent, not null or undefined: existing equality checks and wire frames stay as they were.
      expect(second).toEqual(stored(plain, 2));
      expect(Object.hasOwn(second!, "media")).toBe(false);

      const [newest, oldest] = await store.history("c1", 3, 10);
      expect(oldest?.media).toBe(media);
      expect(Object.hasOwn(newest!, "media")).toBe(false);

      // The original a duplicate answers with is read back from storage, media included; the
      // resend's own media (or lack of it) is ignored.
      const resend = await store.append(message("c1", 3, { cid: withMedia.cid }));
      expect(resend).toEqual({ message: stored(withMedia, 1), duplicate: true });
      expect(resend.message.media).toBe(media);
      const plainResend = await store.append(message("c1", 4, { cid: plain.cid, media }));
      expect(plainResend).toEqual({ message: stored(plain, 2), duplicate: true });
      expect(Object.hasOwn(plainResend.message, "media")).toBe(false);
      expect(await store.lastSeq("c1")).toBe(2);
    });

    test("messages with and without media share one commit", async () => {
      const media = (n: number) => `m${n.toString(16).padStart(32, "0")}`;
      const batch = [1, 2, 3, 4].map((n) => message("c1", n, n % 2 === 0 ? { kind: MessageKind.Media, media: media(n) } : {}));
      const results = await Promise.all(batch.map((m) => store.append(m)));
      expect(results).toEqual(batch.map((m, i) => fresh(stored(m, i + 1))));
      const read = await store.range("c1", 0, 10);
      expect(read).toEqual(batch.map((m, i) => stored(m, i + 1)));
      expect(read.map((m) => Object.hasOwn(m, "media"))).toEqual([false, true, false, true]);
      expect(read.map((m) => m.media)).toEqual([undefined, media(2), undefined, media(4)]);
    });

    test("a duplicate client id returns the original, writes nothing, and consumes no seq", async () => {
      const original = message("c1", 1, { cid: "x" });
      await store.append(original);
      const retry = message("c1", 2, { cid: "x", dev: "laptop", body: new Uint8Array([9]) });
      expect(await store.append(retry)).toEqual({ message: stored(original, 1), duplicate: true });
      expect(await store.range("c1", 0, 10)).toEqual([stored(original, 1)]);
      expect(await store.lastSeq("c1")).toBe(1);

      const next = message("c1", 3);
      expect(await store.append(next)).toEqual(fresh(stored(next, 2)));
      expect(seqs(await store.range("c1", 0, 10))).toEqual([1, 2]);
    });

    test("a duplicate client id within one batch returns the first of the batch", async () => {
      const first = message("c1", 1, { cid: "x" });
      const again = message("c1", 2, { cid: "x", body: new Uint8Array([9]) });
      const other = message("c1", 3);
      // Issued without awaiting: they share one commit in group-committing backends.
      const results = await Promise.all([store.append(first), store.append(again), store.append(other)]);
      expect(results).toEqual([
        fresh(stored(first, 1)),
        { message: stored(first, 1), duplicate: true },
        fresh(stored(other, 2)),
      ]);
      expect(await store.range("c1", 0, 10)).toEqual([stored(first, 1), stored(other, 2)]);
      expect(await store.lastSeq("c1")).toBe(2);
    });

    test("other senders and other conversations may use the same client id", async () => {
      const [a, b, c] = [message("c1", 1, { cid: "x" }), message("c1", 2, { cid: "x", from: "bob" }), message("c2", 1, { cid: "x" })];
      expect(await Promise.all([store.append(a), store.append(b), store.append(c)])).toEqual([
        fresh(stored(a, 1)),
        fresh(stored(b, 2)),
        fresh(stored(c, 1)),
      ]);
      expect((await store.append(message("c1", 3, { cid: "x", from: "bob" }))).message).toEqual(stored(b, 2));
      expect(await store.lastSeqBySender("c1")).toEqual(new Map([["alice", 1], ["bob", 2]]));
    });

    test("system messages, which all have the empty cid, are never duplicates", async () => {
      const system = (n: number) => message("c1", n, { from: "alice", dev: "", cid: "" });
      for (let n = 1; n <= 3; n++) expect((await store.append(system(n))).duplicate).toBe(false);
      const batch = await Promise.all([4, 5, 6].map((n) => store.append(system(n))));
      expect(batch).toEqual([4, 5, 6].map((n) => fresh(stored(system(n), n))));
      expect(seqs(await store.range("c1", 0, 10))).toEqual([1, 2, 3, 4, 5, 6]);
    });

    test("500 concurrent appends across 10 conversations get contiguous seqs in call order", async () => {
      const calls: { msg: NewMessage; result: Promise<AppendResult> }[] = [];
      for (let n = 1; n <= 50; n++) {
        for (let c = 0; c < 10; c++) {
          const msg = message(`conv${c}`, n);
          calls.push({ msg, result: store.append(msg) });
        }
      }
      const results = await Promise.all(calls.map((c) => c.result));
      // The n-th call for a conversation got seq n.
      results.forEach((r, i) => expect(r).toEqual(fresh(stored(calls[i]!.msg, Math.floor(i / 10) + 1))));
      for (let c = 0; c < 10; c++) {
        const conv = `conv${c}`;
        const expected = calls.filter((call) => call.msg.conv === conv).map((call, i) => stored(call.msg, i + 1));
        expect(await store.range(conv, 0, 100)).toEqual(expected);
        expect(await store.lastSeq(conv)).toBe(50);
      }
    });

    test("more concurrent appends than one commit batch holds get seqs in call order", async () => {
      const count = 2500;
      const results = await Promise.all(Array.from({ length: count }, (_, i) => store.append(message("big", i + 1))));
      results.forEach((r, i) => {
        expect(r.message.seq).toBe(i + 1);
        expect(r.message.cid).toBe(`big-${i + 1}`);
      });
      expect(await store.lastSeq("big")).toBe(count);
      expect(seqs(await store.range("big", count - 3, 10))).toEqual([count - 2, count - 1, count]);
      expect((await store.range("big", count - 1, 1))[0]?.cid).toBe(`big-${count}`);
    });

    test("a failed commit consumes no seqs", async () => {
      await appendAll("c1", 2);
      const settled = await Promise.allSettled([
        store.append(message("c1", 3)),
        store.append(message("c2", 1)),
        store.append(unstorable("c1", 4)),
        store.append(message("c1", 5)),
      ]);
      expect(settled[2]?.status).toBe("rejected");
      // Whichever appends were committed (a group commit fails as a whole) hold contiguous seqs.
      const committed = settled.filter((s) => s.status === "fulfilled").map((s) => s.value.message);
      const c1 = committed.filter((m) => m.conv === "c1");
      expect(seqs(c1)).toEqual(range1(3, 2 + c1.length));
      expect(await store.lastSeq("c1")).toBe(2 + c1.length);
      expect(await store.lastSeq("c2")).toBe(committed.length - c1.length);

      const next = await store.append(message("c1", 6));
      expect(next.message.seq).toBe(3 + c1.length);
      expect(seqs(await store.range("c1", 0, 10))).toEqual(range1(1, 3 + c1.length));
      expect((await store.append(message("c2", 2))).message.seq).toBe(committed.length - c1.length + 1);
    });

    test("flush resolves once earlier appends are committed", async () => {
      const appends = [1, 2, 3].map((n) => store.append(message("c1", n)));
      await store.flush();
      expect(seqs(await store.range("c1", 0, 10))).toEqual([1, 2, 3]);
      await Promise.all(appends);
    });

    test("lastSeqBySender gives each sender's highest seq", async () => {
      await store.append(message("c1", 1, { from: "alice" }));
      await store.append(message("c1", 2, { from: "bob" }));
      await store.append(message("c1", 3, { from: "alice" }));
      await store.append(message("c2", 1, { from: "carol" }));
      expect(await store.lastSeqBySender("c1")).toEqual(new Map([["alice", 3], ["bob", 2]]));
    });

    // ---- the message lifecycle ----------------------------------------------------------------

    /** An expiry an hour ahead: stores that expire rows by TTL keep them through the test. */
    const later = () => Date.now() + 3_600_000;

    test("ref and exp round-trip through append, range, history and a duplicate's original; absent when unset", async () => {
      const exp = later();
      const reply = message("c1", 2, { ref: 1, exp });
      const plain = message("c1", 1);
      expect(await store.append(plain)).toEqual(fresh(stored(plain, 1)));
      expect(await store.append(reply)).toEqual(fresh(stored(reply, 2)));
      const [first, second] = await store.range("c1", 0, 10);
      expect(first).toEqual(stored(plain, 1));
      for (const key of ["ref", "exp", "edited"]) expect(Object.hasOwn(first!, key)).toBe(false);
      expect(second).toEqual(stored(reply, 2));
      expect((await store.history("c1", 3, 1))[0]).toEqual(stored(reply, 2));
      expect(await store.append(message("c1", 3, { cid: reply.cid }))).toEqual({ message: stored(reply, 2), duplicate: true });
    });

    test("rewrite replaces kind, body, media, ref and edited in place; the rest and the seqs stay", async () => {
      const media = `m${"ab".repeat(16)}`;
      const original = message("c1", 1, { kind: MessageKind.Media, media, ref: 7 });
      const other = message("c1", 2);
      await store.append(original);
      await store.append(other);
      // An edit: a new body and its time.
      const edited = { ...stored(original, 1), body: new TextEncoder().encode("better"), edited: 1_700_000_000_500 };
      await store.rewrite(edited);
      expect(await store.range("c1", 0, 10)).toEqual([edited, stored(other, 2)]);
      expect((await store.history("c1", 2, 1))[0]).toEqual(edited);
      // Erased: what a deletion for everyone leaves; fields it drops are absent, not null.
      const { media: _m, ref: _r, ...rest } = stored(original, 1);
      const erased = { ...rest, kind: MessageKind.Removed, body: new Uint8Array(0) };
      await store.rewrite(erased);
      const [read] = await store.range("c1", 0, 1);
      expect(read).toEqual(erased);
      for (const key of ["media", "ref", "edited"]) expect(Object.hasOwn(read!, key)).toBe(false);
      // A message that is not stored is left alone; the conversation goes on as before.
      await store.rewrite({ ...stored(other, 2), seq: 99 });
      expect(await store.lastSeq("c1")).toBe(2);
      expect((await store.append(message("c1", 3))).message.seq).toBe(3);
      expect(seqs(await store.range("c1", 0, 10))).toEqual([1, 2, 3]);
      // The duplicate check still knows the rewritten message's client id. (The log-backed store
      // answers from its log, which holds the message as first sent: only the seq is compared.)
      const dup = await store.append(message("c1", 4, { cid: original.cid }));
      expect([dup.duplicate, dup.message.seq]).toEqual([true, 1]);
    });

    // Only stores that keep frames have the method; MessageView reads the others through range().
    if (frames)
      test("frames are the MESSAGE pushes of what range returns, rewrites included", async () => {
      if (!store.frames) throw new Error("this store keeps no frames");
      await store.append(message("c1", 1, { media: `m${"cd".repeat(16)}`, ref: 3 }));
      await store.append(message("c1", 2, { exp: 1_800_000_000_000 }));
      await store.append(message("c1", 3, { id: (1n << 62n) + 5n }));
      await store.rewrite({ ...(await store.range("c1", 1, 1))[0]!, body: new TextEncoder().encode("edited"), edited: 9 });
      const asRange = (await store.range("c1", 0, 10)).map((m) => ({ seq: m.seq, kind: m.kind, exp: m.exp ?? null, frame: encodePush(PushKind.Message, m) }));
      expect(await store.frames("c1", 0, 10)).toEqual(asRange);
      expect(await store.frames("c1", 1, 1)).toEqual(asRange.slice(1, 2));
      expect(messageOfFrame((await store.frames("c1", 1, 1))[0]!.frame)).toEqual((await store.range("c1", 1, 1))[0]!);
      expect(await store.frames("c1", 3, 10)).toEqual([]);
    });

    test("a rewrite issued right after the append of its message applies to it", async () => {
      const m = message("c1", 1);
      const appended = store.append(m);
      const edited = { ...stored(m, 1), body: new TextEncoder().encode("now"), edited: 5 };
      await store.rewrite(edited);
      await appended;
      expect(await store.range("c1", 0, 10)).toEqual([edited]);
    });

    test.if(prunes)("pruneExpired deletes disappearing messages whose time has come; lastSeq survives it", async () => {
      await store.append(message("c1", 1, { exp: 1000 }));
      await store.append(message("c1", 2));
      await store.append(message("c1", 3, { exp: 5000 }));
      await store.append(message("c2", 1, { exp: 1000 }));
      expect(await store.pruneExpired(999)).toBe(0);
      expect(await store.pruneExpired(1000)).toBe(2);
      expect(seqs(await store.range("c1", 0, 10))).toEqual([2, 3]);
      expect(await store.range("c2", 0, 10)).toEqual([]);
      expect(await store.pruneExpired(6000)).toBe(1);
      expect(seqs(await store.range("c1", 0, 10))).toEqual([2]);
      // The newest went: the last seq stays, and the next message follows it.
      expect(await store.lastSeq("c1")).toBe(3);
      expect(await store.lastSeq("c2")).toBe(1);
      expect(await store.firstRetainedSeq("c2")).toBe(2);
      expect((await store.append(message("c2", 2))).message.seq).toBe(2);
      expect((await store.append(message("c1", 4))).message.seq).toBe(4);
    });

    test("the store says whether it prunes", async () => {
      expect(store.prunes).toBe(prunes);
      // Where rows expire by a TTL, pruneExpired has nothing to do.
      await store.append(message("c1", 1, { exp: prunes ? 1 : later() }));
      expect(await store.pruneExpired(prunes ? 0 : Number.MAX_SAFE_INTEGER)).toBe(0);
    });

    test.if(prunes)("pruneBefore deletes older messages; lastSeq and firstRetainedSeq survive it", async () => {
      for (let n = 1; n <= 3; n++) await store.append(message("c1", n, { ts: n * 1000 }));
      await store.append(message("c2", 1, { ts: 9000 }));

      expect(await store.pruneBefore(2500)).toBe(2);
      expect(await store.firstRetainedSeq("c1")).toBe(3);
      expect(await store.lastSeq("c1")).toBe(3);
      expect(seqs(await store.range("c1", 0, 10))).toEqual([3]);

      expect(await store.pruneBefore(5000)).toBe(1);
      expect(await store.range("c1", 0, 10)).toEqual([]);
      expect(await store.lastSeq("c1")).toBe(3);
      expect(await store.firstRetainedSeq("c1")).toBe(4);
      expect(await store.lastSeq("c2")).toBe(1);
    });

    test.if(prunes)("firstRetainedSeq asked before appends, and between prunes of either kind, stays right", async () => {
      expect(await store.firstRetainedSeq("c1")).toBe(1);
      for (let n = 1; n <= 3; n++) await store.append(message("c1", n, { ts: n * 1000, ...(n === 1 ? { exp: 5000 } : {}) }));
      expect(await store.firstRetainedSeq("c1")).toBe(1);
      expect(await store.pruneExpired(6000)).toBe(1);
      expect(await store.firstRetainedSeq("c1")).toBe(2);
      expect(await store.pruneBefore(10_000)).toBe(2);
      expect(await store.firstRetainedSeq("c1")).toBe(4);
      await store.append(message("c1", 4, { ts: 20_000 }));
      expect(await store.firstRetainedSeq("c1")).toBe(4);
    });

    test.if(prunes)("seqs continue after pruning and are never reused", async () => {
      for (let n = 1; n <= 3; n++) await store.append(message("c1", n, { ts: n * 1000 }));
      expect(await store.pruneBefore(10_000)).toBe(3);

      const next = message("c1", 4, { ts: 10_000 });
      expect(await store.append(next)).toEqual(fresh(stored(next, 4)));
      expect(await store.firstRetainedSeq("c1")).toBe(4);
      expect(await store.lastSeq("c1")).toBe(4);

      // Pruning only part of the conversation does not rewind it either.
      expect(await store.pruneBefore(10_001)).toBe(1);
      expect((await Promise.all([5, 6].map((n) => store.append(message("c1", n))))).map((r) => r.message.seq)).toEqual([5, 6]);
      expect(seqs(await store.range("c1", 0, 10))).toEqual([5, 6]);
    });
  });
}

/**
 * For group-commit backends (one transaction per batch): a batch with one unstorable message is
 * rejected whole, and the retried appends get the seqs the failed batch did not consume.
 */
export async function expectFailedBatchRejectedWhole(store: MessageStore): Promise<void> {
  await store.append(message("c1", 1));
  const batch = [store.append(message("c1", 2)), store.append(message("c2", 1)), store.append(unstorable("c1", 3)), store.append(message("c1", 4))];
  const settled = await Promise.allSettled(batch);
  expect(settled.map((s) => s.status)).toEqual(["rejected", "rejected", "rejected", "rejected"]);
  expect(await store.lastSeq("c1")).toBe(1);
  expect(await store.lastSeq("c2")).toBe(0);
  expect(await store.range("c2", 0, 10)).toEqual([]);
  const retried = await Promise.all([store.append(message("c1", 2)), store.append(message("c2", 1))]);
  expect(retried.map((r) => [r.message.conv, r.message.seq, r.duplicate])).toEqual([
    ["c1", 2, false],
    ["c2", 1, false],
  ]);
  expect((await store.range("c1", 0, 10)).map((m) => m.seq)).toEqual([1, 2]);
}
