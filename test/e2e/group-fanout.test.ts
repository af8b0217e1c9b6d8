// Group messages reach the devices that are caught up through the edge's native fan-out
// (src/actors/conversation-fanout.ts). Whichever way a message goes, every member device gets it
// once and in order, whether it reads Batch envelopes (the SDK) or one frame per WebSocket message
// (a client that did not ask for batches, which also gets no copy of its own sends), a device
// that connects or resyncs mid-stream misses nothing, and a removed member gets nothing more.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { Client, type WireMessage } from "../../src/sdk/index.ts";
import { collect, HARNESS_START_MS, nextEvent, startHarness, until, type Harness } from "../helpers/harness.ts";
import { embeddedOnly, forEachTopology } from "../helpers/topology.ts";
import type { BusEvent } from "../../src/bus/events.ts";
import { decodeServerFrame, encodeCommand } from "../../src/proto/codec.ts";
import { FrameType, Method, PushKind } from "../../src/proto/codes.ts";
import { isBatch } from "../../src/proto/frame-batch.ts";

forEachTopology((topology) => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({}, { topology });
  }, HARNESS_START_MS);
  afterAll(() => h.stop());

  const seqsIn = (log: WireMessage[], conv: string) => log.filter((m) => m.conv === conv).map((m) => m.seq);
  const upTo = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

  /**
   * A device whose CONNECT does not ask for batches, on a bare WebSocket: every MESSAGE push it
   * gets, as it gets it (no reordering or deduplication), and every Batch envelope (there must be none).
   */
  async function unbatchedDevice(user: string, device: string) {
    const got = { messages: [] as WireMessage[], batches: 0 };
    const ws = new WebSocket(h.server.wsUrl, ["msgr.v1", "bearer." + (await h.token(user, device))]);
    ws.binaryType = "arraybuffer";
    const synced = new Promise<void>((resolve) => {
      ws.onmessage = (ev) => {
        const buf = new Uint8Array(ev.data as ArrayBuffer);
        if (isBatch(buf)) return void got.batches++;
        const f = decodeServerFrame(buf);
        if (f.type === FrameType.Reply && f.id === 1) ws.send(encodeCommand(2, Method.Sync, {}));
        if (f.type === FrameType.Push && f.kind === PushKind.SyncDone) resolve();
        if (f.type === FrameType.Push && f.kind === PushKind.Message) got.messages.push(f.body as WireMessage);
      };
    });
    ws.onopen = () => ws.send(encodeCommand(1, Method.Connect, { v: 1 }));
    await synced;
    return { got, close: () => ws.close() };
  }

  test("every member device gets each group message once, in order, and the sender's device no copy", async () => {
    const senders = [await h.client("fo-ann", "ann-1"), await h.client("fo-ann", "ann-2")];
    const others = [await h.client("fo-ben"), await h.client("fo-cat"), await h.client("fo-dan")];
    const all: Client[] = [...senders, ...others];
    const logs = all.map(collect);
    const eve = await unbatchedDevice("fo-eve", "eve-1");
    const g = await senders[0]!.createGroup("fan-out", ["fo-ben", "fo-cat", "fo-dan", "fo-eve"]);
    await until(() => logs.every((l) => seqsIn(l, g.id).length === 1) && seqsIn(eve.got.messages, g.id).length === 1, 10_000, "the group's first message everywhere");

    const delivered = await h.metric("msgr_messages_delivered_total");
    const fannedOut = await h.metric("msgr_messages_fanned_out_total");
    const n = 40;
    // Two writers at once: the node hears both devices' messages interleaved, in seq order.
    await Promise.all(Array.from({ length: n }, (_, i) => all[i % 2 === 0 ? 0 : 2]!.send(g.id, `m${i}`)));
    await until(() => [...logs, eve.got.messages].every((l) => seqsIn(l, g.id).length >= n + 1), 10_000, "every message on every device");
    for (const l of [...logs, eve.got.messages]) expect(seqsIn(l, g.id)).toEqual(upTo(n + 1));
    expect(eve.got.batches).toBe(0);
    // Six devices, each message written to the five that did not send it.
    await until(async () => (await h.metric("msgr_messages_delivered_total")) - delivered >= n * 5, 10_000, "delivery count");
    expect((await h.metric("msgr_messages_delivered_total")) - delivered).toBe(n * 5);
    // One server holds all five devices: after each device's first message, the topic wrote them.
    if (topology === "embedded") expect((await h.metric("msgr_messages_fanned_out_total")) - fannedOut).toBeGreaterThan(n * 4);
    for (const c of all) c.close();
    eve.close();
  });

  embeddedOnly(topology, "reorders the node's bus", () => {
    test("messages heard out of order are filled from the store, and a device's own sends among them still not pushed to it", async () => {
      // In a cluster, two nodes committing in one conversation publish on connections of their
      // own, so a node can hear seq n + 1 before n. Here the node's bus holds back ann-1's message
      // until ben's, after it, is published.
      const ann = [await h.client("fo3-ann", "ann-1"), await h.client("fo3-ann", "ann-2")];
      const ben = await h.client("fo3-ben");
      const cat = await h.client("fo3-cat");
      const all = [...ann, ben, cat];
      const logs = all.map(collect);
      const g = await ann[0]!.createGroup("reordered", ["fo3-ben", "fo3-cat"]);
      await until(() => logs.every((l) => seqsIn(l, g.id).length === 1), 10_000, "the group's first message everywhere");
      const { bus } = h.embedded.node.ctx;
      const publish = bus.publish.bind(bus);
      let held: BusEvent | undefined;
      bus.publish = (subject, e) => {
        if (e.t !== "msg" || e.msg.conv !== g.id) return publish(subject, e);
        if (e.msg.from === "fo3-ann") return void (held = e);
        publish(subject, e);
        // ann-1's, held until now (its ack came first: the test awaits it before ben sends).
        if (held) publish(subject, held);
        held = undefined;
      };
      try {
        const delivered = await h.metric("msgr_messages_delivered_total");
        expect((await ann[0]!.send(g.id, "own")).seq).toBe(2);
        expect((await ben.send(g.id, "later")).seq).toBe(3);
        await until(() => logs.every((l) => seqsIn(l, g.id).length === 3), 10_000, "both messages on every device");
        for (const l of logs) expect(seqsIn(l, g.id)).toEqual([1, 2, 3]);
        // Written to the devices that did not send them: ann-1 gets ben's alone, ben ann-1's alone.
        await until(async () => (await h.metric("msgr_messages_delivered_total")) - delivered >= 6, 10_000, "delivery count");
        expect((await h.metric("msgr_messages_delivered_total")) - delivered).toBe(6);
      } finally {
        bus.publish = publish;
      }
      for (const c of all) c.close();
    });
  });

  test("a device that connects, or resyncs, while messages flow misses none; a removed member gets no more", async () => {
    const ann = await h.client("fo2-ann");
    const ben = await h.client("fo2-ben");
    const cat = await h.client("fo2-cat");
    const dan = await h.client("fo2-dan");
    const atBen = collect(ben);
    const atDan = collect(dan);
    const g = await ann.createGroup("fan-out 2", ["fo2-ben", "fo2-cat", "fo2-dan"]);
    await until(() => seqsIn(atBen, g.id).length === 1 && seqsIn(atDan, g.id).length === 1, 10_000, "the group's first message");

    let sent = 1;
    let stop = false;
    const sending = (async () => {
      while (!stop) sent = (await ann.send(g.id, `flow ${sent}`)).seq;
    })();
    await until(() => sent >= 20, 10_000, "messages flowing");
    // A second device of a member, connecting mid-stream: its SYNC backlog, then live.
    const ben2 = await h.client("fo2-ben", "ben-2");
    const atBen2 = collect(ben2);
    // Cat resyncs on a new connection from its cursors, mid-stream.
    const cursors = cat.cursors();
    cat.close();
    const cat2 = new Client({ url: h.server.wsUrl, token: await h.token("fo2-cat", "fo2-cat"), cursors });
    const atCat2 = collect(cat2);
    const catSynced = nextEvent(cat2, "synced");
    await cat2.connect();
    await catSynced;
    const mark = sent;
    await until(() => sent >= mark + 20, 10_000, "more messages after both joined");
    stop = true;
    await sending;
    const last = sent;
    await until(() => seqsIn(atBen, g.id).length === last && seqsIn(atBen2, g.id).length > 0 && seqsIn(atBen2, g.id).at(-1) === last, 10_000, "ben's devices caught up");
    expect(seqsIn(atBen, g.id)).toEqual(upTo(last));
    // From the first message after its SYNC (its backlog came before `collect`), all of them.
    const fromBen2 = seqsIn(atBen2, g.id);
    expect(fromBen2[0]!).toBeLessThanOrEqual(mark);
    expect(fromBen2).toEqual(upTo(last).slice(fromBen2[0]! - 1));
    await until(() => seqsIn(atCat2, g.id).at(-1) === last, 10_000, "cat caught up");
    expect(seqsIn(atCat2, g.id)).toEqual(upTo(last).slice(cursors[g.id]!));

    // Dan is removed: the removal reaches him, and nothing after it.
    const removed = nextEvent(dan, "conversation", (c) => c.removed);
    const { seq: removal } = await ann.removeMember(g.id, "fo2-dan");
    await removed;
    for (let i = 0; i < 10; i++) await ann.send(g.id, `after ${i}`);
    await until(() => seqsIn(atBen, g.id).at(-1) === removal + 10, 10_000, "the messages after the removal");
    expect(seqsIn(atDan, g.id).every((s) => s <= removal)).toBe(true);
    for (const c of [ann, ben, ben2, cat2, dan]) c.close();
  });
});
