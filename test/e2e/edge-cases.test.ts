// Behaviours at the edges of the protocol that once went wrong.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { Packr } from "msgpackr";
import { decodeServerFrame, encodeCommand } from "../../src/proto/codec.ts";
import { Client, DisconnectCode, ErrorCode, MessageKind, Method } from "../../src/sdk/index.ts";
import { collect, nextEvent, HARNESS_START_MS, startHarness, text, until, type Harness } from "../helpers/harness.ts";
import { forEachTopology } from "../helpers/topology.ts";

forEachTopology((topology) => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ limits: { socketBufferBytes: 1 << 20 } }, { topology });
  }, HARNESS_START_MS);
  afterAll(() => h.stop());

  test("a new connection of the same device replaces the old one (4502) and works", async () => {
    const old = await h.client("rep", "phone");
    const closed = nextEvent(old, "disconnected");
    const fresh = await h.client("rep", "phone");
    const d = await closed;
    expect(d.code).toBe(DisconnectCode.Replaced);
    expect(d.willReconnect).toBe(false);
    const conv = await fresh.openDirect("rep-peer");
    expect((await fresh.send(conv.id, "still works")).seq).toBe(1);
  });

  test("each connection's CONNECT reply names a session of its own, a UUID (a reconnect gets a new one)", async () => {
    const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
    const ids: string[] = [];
    // The last is the first's device again: it replaces that connection (whose client then forgets its session).
    for (const [user, device] of [["sid-a", "phone"], ["sid-a", "laptop"], ["sid-b", "phone"], ["sid-a", "phone"]] as const) {
      ids.push((await h.client(user, device)).session!.session);
    }
    for (const id of ids) expect(id).toMatch(UUID);
    expect(new Set(ids).size).toBe(ids.length);
  });

  test("typing from another user's device with the same device id is shown", async () => {
    const a = await h.client("ty-a", "phone");
    const b = await h.client("ty-b", "phone");
    const conv = await a.openDirect("ty-b");
    const seen = nextEvent(b, "typing");
    a.typing(conv.id, true);
    expect(await seen).toMatchObject({ user: "ty-a", dev: "phone", on: true });
  });

  test("integers encoded as 64-bit are read by value", async () => {
    const ws = new WebSocket(h.server.wsUrl, ["msgr.v1", "bearer." + (await h.token("wide", "w1"))]);
    ws.binaryType = "arraybuffer";
    const replies: ReturnType<typeof decodeServerFrame>[] = [];
    ws.onmessage = (e) => replies.push(decodeServerFrame(new Uint8Array(e.data as ArrayBuffer)));
    await new Promise((r) => (ws.onopen = r));
    // Every integer as a bigint, so msgpackr writes uint64/int64 encodings.
    const wide = new Packr({ useRecords: false, int64AsType: "bigint" } as never);
    ws.send(wide.pack([1n, 7n, BigInt(Method.Connect), { v: 1n }]));
    ws.send(encodeCommand(8, Method.Ping, {}));
    await until(() => replies.length >= 2);
    expect(replies[0]).toMatchObject({ type: 2, id: 7, code: 0 });
    expect(replies[1]).toMatchObject({ type: 2, id: 8, code: 0 });
    ws.close();
  });

  test("history starts where a member joined, and a page stays within the reply budget", async () => {
    const owner = await h.client("hist-owner");
    const g = await owner.createGroup("hist", ["hist-early"]);
    const big = new Uint8Array(60_000).fill(1);
    for (let i = 0; i < 10; i++) await owner.send(g.id, big, { cid: `big-${i}` });
    const { seq: joinedAt } = await owner.addMembers(g.id, ["hist-late"]);
    await owner.send(g.id, "after join");
    const late = await h.client("hist-late");
    const page = await late.history(g.id);
    expect(page.messages.map((m) => m.seq)).toEqual([joinedAt + 1, joinedAt]);
    expect(page.more).toBe(false);
    // 10 bodies of 60 kB exceed the 256 KiB budget (a quarter of the 1 MiB socket buffer): several pages.
    const early = await h.client("hist-early");
    const first = await early.history(g.id, joinedAt, 200);
    expect(first.messages.length).toBeLessThan(10);
    expect(first.more).toBe(true);
    expect(first.messages.every((m) => m.kind === MessageKind.Text)).toBe(true);
  });

  test("re-added to a group while away: the device resumes at the new join point without stalling", async () => {
    const admin = await h.client("re-admin");
    const g = await admin.createGroup("re", ["re-user"]);
    const away = await h.client("re-user", "tablet");
    await until(() => away.cursors()[g.id] === 1);
    const saved = away.cursors();
    away.close();
    await admin.removeMember(g.id, "re-user");
    await admin.send(g.id, "while removed");
    const { seq } = await admin.addMembers(g.id, ["re-user"]);
    const back = new Client({ url: h.server.wsUrl, token: await h.token("re-user", "tablet"), cursors: saved });
    const log = collect(back);
    const synced = nextEvent(back, "synced");
    await back.connect();
    await synced;
    const live = nextEvent(back, "message", (m) => text(m) === "welcome back");
    await admin.send(g.id, "welcome back");
    await live;
    expect(log.filter((m) => m.conv === g.id).map((m) => m.seq)).toEqual([seq, seq + 1]);
    expect(log.some((m) => text(m) === "while removed")).toBe(false);
    back.close();
  });

  test("errors for a command sent with id 0 still come back", async () => {
    const c = await h.client("quiet");
    const ws = new WebSocket(h.server.wsUrl, ["msgr.v1", "bearer." + (await h.token("quiet", "q2"))]);
    ws.binaryType = "arraybuffer";
    const frames: ReturnType<typeof decodeServerFrame>[] = [];
    ws.onmessage = (e) => frames.push(decodeServerFrame(new Uint8Array(e.data as ArrayBuffer)));
    await new Promise((r) => (ws.onopen = r));
    ws.send(encodeCommand(1, Method.Connect, { v: 1 }));
    ws.send(encodeCommand(0, Method.Typing, { conv: "cnothere", on: true }));
    await until(() => frames.length >= 2);
    expect(frames[1]).toMatchObject({ type: 2, id: 0, code: ErrorCode.NotFound });
    ws.close();
    c.close();
  });
});
