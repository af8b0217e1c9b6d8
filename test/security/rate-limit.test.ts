// SEND rate limiting: a burst beyond the bucket is refused with RateLimited (2000) and a positive
// retryAfterMs, refused sends store nothing, and the limit is per user. The server's clock stands
// still unless a test moves it, so buckets refill exactly when told to.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { encodeCommand } from "../../src/proto/codec.ts";
import { ErrorCode, Method, ProtocolError, type Client, type SendResult } from "../../src/sdk/index.ts";
import { HARNESS_START_MS, nextEvent, startHarness, text, type Harness } from "../helpers/harness.ts";
import { embeddedOnly, forEachTopology } from "../helpers/topology.ts";
import { ManualClock } from "../../src/clock.ts";
import { RawConn } from "./ws.ts";

const PER_SECOND = 5;
const BURST = 5;

const te = new TextEncoder();

async function bodies(reader: Client, conv: string): Promise<string[]> {
  return (await reader.history(conv, undefined, 200)).messages.map(text).reverse();
}

/** Settles every promise; returns [ok results, errors] in the original order. */
async function settle<T>(ps: Promise<T>[]): Promise<PromiseSettledResult<T>[]> {
  return Promise.all(ps.map((p) => p.then((value) => ({ status: "fulfilled" as const, value }), (reason: unknown) => ({ status: "rejected" as const, reason }))));
}

forEachTopology((topology) => {
  embeddedOnly(topology, "moves the server's clock", () => {
    let h: Harness;
    const clock = new ManualClock();
    beforeAll(async () => {
      h = await startHarness({ rates: { send: { perSecond: PER_SECOND, burst: BURST } } }, { clock });
    });
    afterAll(() => h.stop());

    describe("SEND rate limit", () => {
      test("the 6th+ rapid SEND is RateLimited with retryAfterMs; only the accepted ones are stored", async () => {
        const alice = await h.client("alice", "a1");
        const bob = await h.client("bob", "b1");
        const conv = (await alice.openDirect("bob")).id;

        const n = 12;
        // All in one tick: the server decides in frame order, before any storage work.
        const results = await settle(
          Array.from({ length: n }, (_, i) => alice.request(Method.Send, { conv, cid: `burst-${i}`, kind: 1, body: te.encode(`m${i}`) })),
        );
        const accepted = results.flatMap((r, i) => (r.status === "fulfilled" ? [i] : []));
        expect(accepted).toEqual([0, 1, 2, 3, 4]);
        for (const r of results.slice(BURST)) {
          expect(r.status).toBe("rejected");
          const e = (r as PromiseRejectedResult).reason as ProtocolError;
          expect(e).toBeInstanceOf(ProtocolError);
          expect(e.code).toBe(ErrorCode.RateLimited);
          expect(e.retryable).toBe(true);
          expect(e.retryAfterMs).toBeGreaterThan(0);
          // One token per 1000/PER_SECOND ms: the wait never exceeds that.
          expect(e.retryAfterMs!).toBeLessThanOrEqual(1000 / PER_SECOND);
        }
        const seqs = results.slice(0, BURST).map((r) => ((r as PromiseFulfilledResult<unknown>).value as SendResult).seq);
        expect(seqs).toEqual([1, 2, 3, 4, 5]);

        // Only the accepted five are stored, from either member's point of view.
        expect(await bodies(bob, conv)).toEqual(["m0", "m1", "m2", "m3", "m4"]);
        expect(await bodies(alice, conv)).toEqual(["m0", "m1", "m2", "m3", "m4"]);
        // Rate limiting is not a protocol violation: the connection is still up.
        expect(alice.connected).toBe(true);

        // After the advertised wait, sending works again, and a refused cid can be reused.
        const retryAfter = ((results[BURST] as PromiseRejectedResult).reason as ProtocolError).retryAfterMs!;
        clock.advance(retryAfter);
        const again = (await alice.request(Method.Send, { conv, cid: `burst-${BURST}`, kind: 1, body: te.encode(`m${BURST}`) })) as SendResult;
        expect(again.seq).toBe(6);
        expect(await bodies(bob, conv)).toEqual(["m0", "m1", "m2", "m3", "m4", "m5"]);
      });

      test("raw frames: RateLimited replies carry the command id and retryAfterMs", async () => {
        const carol = await h.client("carol", "c1");
        const conv = (await carol.openDirect("dave")).id;
        const dave = await h.client("dave", "d1");
        const raw = await RawConn.connected(h.server.wsUrl, await h.token("carol", "c-raw"));
        const ids = Array.from({ length: 10 }, (_, i) => 1000 + i);
        for (const [i, id] of ids.entries()) raw.send(encodeCommand(id, Method.Send, { conv, cid: `raw-${i}`, kind: 1, body: te.encode(`r${i}`) }));
        const replies = await Promise.all(ids.map((id) => raw.reply(id)));
        expect(replies.map((r) => r.code)).toEqual([0, 0, 0, 0, 0, 2000, 2000, 2000, 2000, 2000]);
        for (const r of replies.slice(BURST)) {
          const body = r.body as { message: string; retryAfterMs: number };
          expect(typeof body.message).toBe("string");
          expect(Number.isInteger(body.retryAfterMs)).toBe(true);
          expect(body.retryAfterMs).toBeGreaterThan(0);
        }
        expect(await bodies(dave, conv)).toEqual(["r0", "r1", "r2", "r3", "r4"]);
        // More rate-limited sends than maxProtocolErrors do not count as protocol errors (no 4500 close).
        for (let i = 0; i < 25; i++) raw.send(encodeCommand(2000 + i, Method.Send, { conv, cid: `flood-${i}`, kind: 1, body: te.encode("flood") }));
        const flood = await Promise.all(Array.from({ length: 25 }, (_, i) => raw.reply(2000 + i)));
        expect(flood.every((r) => r.code === ErrorCode.RateLimited || r.code === 0)).toBe(true);
        expect(flood.filter((r) => r.code === 0).length).toBeLessThanOrEqual(2);
        await raw.expectAlive();
        raw.close();
      });

      test("the limit is per user: another user sends freely while one is limited", async () => {
        const erin = await h.client("erin", "e1");
        const frank = await h.client("frank", "f1");
        const conv = (await erin.openDirect("frank")).id;
        const erins = await settle(Array.from({ length: 8 }, (_, i) => erin.request(Method.Send, { conv, cid: `e-${i}`, kind: 1, body: te.encode(`e${i}`) })));
        expect(erins.filter((r) => r.status === "rejected").length).toBe(3);
        // Frank is not affected by Erin's empty bucket.
        const franks = await settle(Array.from({ length: BURST }, (_, i) => frank.request(Method.Send, { conv, cid: `f-${i}`, kind: 1, body: te.encode(`f${i}`) })));
        expect(franks.every((r) => r.status === "fulfilled")).toBe(true);
        const stored = await bodies(erin, conv);
        expect(stored.filter((b) => b.startsWith("e"))).toEqual(["e0", "e1", "e2", "e3", "e4"]);
        expect(stored.filter((b) => b.startsWith("f"))).toEqual(["f0", "f1", "f2", "f3", "f4"]);
      });

    });
  });

  describe("SEND rate limit with the SDK, on the system clock", () => {
    // The SDK waits retryAfterMs of real time before it retries, so this server's buckets refill in real time too.
    let real: Harness;
    beforeAll(async () => {
      real = await startHarness({ rates: { send: { perSecond: PER_SECOND, burst: BURST } } }, { topology });
    }, HARNESS_START_MS);
    afterAll(() => real.stop());

    test("the SDK's send() retries rate-limited messages after retryAfterMs and stores each exactly once", async () => {
      const gina = await real.client("gina", "g1");
      const hank = await real.client("hank", "h1");
      const conv = (await gina.openDirect("hank")).id;
      const n = 9;
      const last = nextEvent(hank, "message", (m) => m.conv === conv && text(m) === `s${n - 1}`, 15_000);
      const acks = await Promise.all(Array.from({ length: n }, (_, i) => gina.send(conv, `s${i}`)));
      expect(new Set(acks.map((a) => a.seq)).size).toBe(n);
      await last;
      const stored = await bodies(hank, conv);
      expect(stored.length).toBe(n);
      expect([...stored].sort()).toEqual(Array.from({ length: n }, (_, i) => `s${i}`).sort());
    });
  });
});
