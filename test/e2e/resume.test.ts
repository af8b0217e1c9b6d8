import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ManualClock } from "../../src/clock.ts";
import { Client, MessageKind, type WireMessage } from "../../src/sdk/index.ts";
import { collect, HARNESS_START_MS, nextEvent, startHarness, text, until, type Harness } from "../helpers/harness.ts";
import { embeddedOnly, forEachTopology } from "../helpers/topology.ts";

forEachTopology((topology) => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({}, { topology });
  }, HARNESS_START_MS);
  afterAll(() => h.stop());

  const textsIn = (log: WireMessage[], conv: string) => log.filter((m) => m.conv === conv && m.kind !== MessageKind.System).map(text);

  describe("offline and multi-device sync", () => {
    test("a device that missed 1,000 messages over several conversations gets each once, in order, then live traffic", async () => {
      const sam = await h.client("sam", "phone");
      const friends = await Promise.all(["t1", "t2", "t3"].map((u) => h.client(u)));
      const convs = [
        ...(await Promise.all(friends.map((f) => f.openDirect("sam")))),
        await friends[0]!.createGroup("club", ["sam", "t2", "t3"]),
      ];
      // Sam's laptop exists, syncs once, then goes away.
      const laptop = await h.client("sam", "laptop");
      expect(convs.every((c) => laptop.cursors()[c.id] !== undefined)).toBe(true);
      const saved = laptop.cursors();
      laptop.close();

      const sent = new Map<string, string[]>(convs.map((c) => [c.id, []]));
      for (let i = 0; i < 1000; i++) {
        const conv = convs[i % convs.length]!;
        const sender = friends[i % friends.length]!;
        const body = `n${i}`;
        await sender.send(conv.id, body).catch(async () => {
          // The sender is not in this direct conversation: let sam's phone send it instead.
          await sam.send(conv.id, body);
        });
        sent.get(conv.id)!.push(body);
      }

      // The laptop comes back with the cursors it saved: one SYNC over all conversations.
      const back = new Client({ url: h.server.wsUrl, token: await h.token("sam", "laptop"), cursors: saved });
      const log = collect(back);
      const synced = nextEvent(back, "synced");
      await back.connect();
      await synced;
      for (const c of convs) expect(textsIn(log, c.id)).toEqual(sent.get(c.id)!);
      for (const c of convs) {
        const seqs = log.filter((m) => m.conv === c.id).map((m) => m.seq);
        expect(seqs).toEqual([...new Set(seqs)].sort((a, b) => a - b));
      }
      // Then live traffic, with no gap and no duplicate.
      const live = nextEvent(back, "message", (m) => text(m) === "live");
      await friends[0]!.send(convs[0]!.id, "live");
      const m = await live;
      expect(m.seq).toBe(back.cursors()[convs[0]!.id]!);
      expect(log.filter((x) => text(x) === "live")).toHaveLength(1);
      back.close();
    });

    test("messages sent while the only device is offline are kept and delivered on reconnect", async () => {
      const uma = await h.client("uma");
      const conv = await uma.openDirect("vic");
      for (let i = 0; i < 5; i++) await uma.send(conv.id, `while away ${i}`);
      const vic = await h.client("vic");
      await until(() => vic.cursors()[conv.id] === 5);
      const hist = await vic.history(conv.id);
      expect(hist.messages.map(text).reverse()).toEqual([0, 1, 2, 3, 4].map((i) => `while away ${i}`));
    });

    test("live traffic during the backlog stream is neither lost nor duplicated", async () => {
      const wes = await h.client("wes");
      const conv = await wes.openDirect("xia");
      const first = await h.client("xia", "x1");
      const saved = first.cursors();
      first.close();
      for (let i = 0; i < 300; i++) await wes.send(conv.id, `b${i}`);
      const back = new Client({ url: h.server.wsUrl, token: await h.token("xia", "x1"), cursors: saved });
      const log = collect(back);
      const connecting = back.connect();
      // Keep sending while the device resumes.
      const during = Array.from({ length: 100 }, (_, i) => wes.send(conv.id, `d${i}`));
      await connecting;
      await Promise.all(during);
      await until(() => log.filter((m) => m.conv === conv.id).length >= 400);
      const seqs = log.filter((m) => m.conv === conv.id).map((m) => m.seq);
      expect(seqs).toEqual(Array.from({ length: 400 }, (_, i) => i + 1));
      back.close();
    });

    test("a cursor the server cannot resume is reset explicitly, never a silent gap", async () => {
      const yan = await h.client("yan");
      const conv = await yan.openDirect("zed");
      await yan.send(conv.id, "one");
      // A cursor ahead of the server (for example after restoring another server's data).
      const zed = new Client({ url: h.server.wsUrl, token: await h.token("zed", "z1"), cursors: { [conv.id]: 99 } });
      const reset = nextEvent(zed, "reset", (r) => r.conv === conv.id);
      const got = nextEvent(zed, "message", (m) => m.conv === conv.id);
      await zed.connect();
      const r = await reset;
      expect(r).toMatchObject({ conv: conv.id, from: 1, to: 1, reset: true });
      expect(text(await got)).toBe("one");
      zed.close();
    });

    test("resending a client id after a reconnect returns the original and delivers once", async () => {
      const ada = await h.client("ada");
      const bo = await h.client("bo");
      const conv = await ada.openDirect("bo");
      const atBo = collect(bo);
      const first = await ada.send(conv.id, "once", { cid: "cid-42" });
      ada.close();
      const again = new Client({ url: h.server.wsUrl, token: await h.token("ada", "ada-phone"), cursors: ada.cursors() });
      await again.connect();
      const second = await again.send(conv.id, "once", { cid: "cid-42" });
      expect(second).toEqual({ ...first, dup: true });
      await again.send(conv.id, "after", { cid: "cid-43" });
      await until(() => atBo.some((m) => text(m) === "after"));
      expect(atBo.filter((m) => text(m) === "once")).toHaveLength(1);
      expect((await bo.history(conv.id)).messages.map(text)).toEqual(["after", "once"]);
      again.close();
    });

    test("a device's own earlier messages are part of its resume (an ack it never saw leaves no hole)", async () => {
      const own = await h.client("own", "o1");
      const conv = await own.openDirect("peer");
      await own.send(conv.id, "mine");
      const peer = await h.client("peer");
      await peer.send(conv.id, "theirs");
      own.close();
      // Same device, local state lost: resumes from nothing.
      const back = new Client({ url: h.server.wsUrl, token: await h.token("own", "o1") });
      const log = collect(back);
      const synced = nextEvent(back, "synced");
      await back.connect();
      await synced;
      expect(textsIn(log, conv.id)).toEqual(["mine", "theirs"]);
      expect(back.cursors()[conv.id]).toBe(2);
      back.close();
    });
  });

  // The SQLite store deletes old messages with a pruner that follows the server's clock; the
  // cluster's log-backed store gives rows a TTL in Cassandra instead (retention is the store's
  // own clock there), and a clock cannot be moved in the edge processes.
  embeddedOnly(topology, "moves the server's clock past the retention window", () => {
    test("a cursor older than the retained history is reset", async () => {
      const clock = new ManualClock();
      const r = await startHarness({ storage: { retentionSeconds: 1 } }, { clock });
      try {
        const a = await r.client("ret-a");
        const conv = await a.openDirect("ret-b");
        const b = await r.client("ret-b");
        const saved = b.cursors();
        b.close();
        await a.send(conv.id, "old");
        // The message becomes older than the retention window; the pruner (every 250 ms) deletes it.
        clock.advance(1500);
        await until(async () => (await r.embedded.node.ctx.messages.firstRetainedSeq(conv.id)) > 1, 10_000, "the old message to be pruned");
        await a.send(conv.id, "new");
        const back = new Client({ url: r.server.wsUrl, token: await r.token("ret-b", "ret-b-phone"), cursors: saved });
        const reset = nextEvent(back, "reset");
        const got = nextEvent(back, "message");
        await back.connect();
        expect(await reset).toMatchObject({ conv: conv.id, from: 2, reset: true });
        expect(text(await got)).toBe("new");
        back.close();
      } finally {
        await r.stop();
      }
    });
  });
});
