// Limits on every command (docs/protocol.md §14.1): each rate class refuses the command past its
// burst with RateLimited and a retryAfterMs after which it is admitted again; floods of TYPING,
// GROUP_CREATE and group changes are bounded and reach members a bounded number of times; a
// client that ignores the refusals is closed with 4005; the per-connection budget and in-flight
// cap hold. The server's clock stands still unless a test moves it, so nothing here waits on time.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { COMMANDS } from "../../src/actors/commands/table.ts";
import { ManualClock } from "../../src/clock.ts";
import type { RateClass } from "../../src/config/config.ts";
import { encodeCommand } from "../../src/proto/codec.ts";
import { DisconnectCode, ErrorCode, FrameType, Method, PushKind, type MethodId } from "../../src/proto/codes.ts";
import { DEFAULTS } from "../../src/config/config.ts";
import { startHarness, until, type Harness } from "../helpers/harness.ts";
import { RawConn } from "./ws.ts";

const te = new TextEncoder();
const BURST = 3;

/** Every class at BURST at once and one per second. */
function tightRates(): Record<RateClass, { perSecond: number; burst: number }> {
  const out = {} as Record<RateClass, { perSecond: number; burst: number }>;
  for (const cls of Object.keys(DEFAULTS.rates) as RateClass[]) out[cls] = { perSecond: 1, burst: BURST };
  return out;
}

/** Parameters each method accepts, given a direct conversation and a group of the caller. */
function sample(method: MethodId, n: number, ctx: { conv: string; group: string }): object {
  switch (method) {
    case Method.Connect:
      return { v: 1 };
    case Method.Ping:
    case Method.ConvList:
    case Method.DeviceList:
      return {};
    case Method.Sync:
      return { cursors: {} };
    case Method.Send:
      return { conv: ctx.conv, cid: `lim-${n}`, kind: 1, body: te.encode("x") };
    case Method.Receipt:
      return { conv: ctx.conv, type: 1, seq: 0 };
    case Method.Typing:
      return { conv: ctx.conv, on: n % 2 === 0 };
    case Method.History:
      return { conv: ctx.conv };
    case Method.PresenceSubscribe:
      return { users: ["someone"] };
    case Method.ConvGet:
      return { conv: ctx.conv };
    case Method.DirectOpen:
      return { user: `peer-${n}` };
    case Method.GroupCreate:
      return { title: `g${n}`, members: ["someone"] };
    case Method.GroupRename:
      return { conv: ctx.group, title: `t${n}` };
    case Method.GroupAdd:
      return { conv: ctx.group, users: [`u${n}`] };
    case Method.GroupRemove:
      return { conv: ctx.group, user: "nobody" };
    case Method.GroupSetAdmin:
      return { conv: ctx.group, user: "nobody", admin: true };
    case Method.DeviceRevoke:
      return { device: "no-such-device" };
    case Method.MediaUpload:
      return { contentType: "image/png", size: 10, sha256: "0".repeat(64) };
    case Method.MediaUrl:
      return { media: "m" + "0".repeat(32) };
    case Method.PushSubscribe:
      return { endpoint: "https://push.example.invalid/x", p256dh: "AAAA", auth: "AAAA" };
    case Method.PushUnsubscribe:
      return { endpoint: "https://push.example.invalid/x" };
    case Method.PushRegister:
      return { service: "fcm", token: "x".repeat(40) };
    case Method.Block:
    case Method.Unblock:
      return { user: `other-${n}` };
    case Method.BlockList:
    case Method.PrivacyGet:
    case Method.ContactList:
    case Method.InvitationList:
      return {};
    case Method.PrivacySet:
      return { readReceipts: n % 2 === 0 };
    case Method.ContactAdd:
    case Method.ContactRemove:
      return { users: [`friend-${n}`] };
    case Method.InvitationAccept:
    case Method.InvitationDecline:
    case Method.LinkCreate:
    case Method.LinkList:
    case Method.JoinRequestList:
      return { conv: ctx.group };
    case Method.LinkRevoke:
      return { conv: ctx.group, token: "x".repeat(22) };
    case Method.LinkJoin:
      return { token: "x".repeat(22) };
    case Method.JoinRequestAnswer:
      return { conv: ctx.group, user: "nobody", approve: false };
    case Method.Report:
      return { user: `someone-${n}`, reason: "spam" };
    case Method.Delete:
      return { conv: ctx.conv, seq: 1 };
    case Method.Hide:
      return { conv: ctx.conv, seqs: [1] };
    case Method.TimerSet:
      return { conv: ctx.conv, timer: n % 2 === 0 ? 60 : 0 };
    case Method.SettingsSet:
      return { conv: ctx.conv, pinned: n % 2 === 0 };
    case Method.SettingsList:
      return {};
    case Method.KeyPackageUpload:
      return { packages: [] };
    case Method.KeyPackageCount:
      return {};
    case Method.KeyPackageClaim:
    case Method.MlsGroup:
      return { conv: ctx.conv };
    case Method.MlsCommit:
      return { conv: ctx.conv, commit: new Uint8Array([0, 1, 0, 1]) };
  }
}

/** Sends `count` commands of `method` at once; returns their reply codes (and retryAfterMs), in order. */
async function burst(c: RawConn, method: MethodId, count: number, ctx: { conv: string; group: string }): Promise<{ code: number; retryAfterMs?: number }[]> {
  const ids = Array.from({ length: count }, () => c.id());
  ids.forEach((id, n) => c.send(encodeCommand(id, method, sample(method, n, ctx))));
  const replies = await Promise.all(ids.map((id) => c.reply(id)));
  return replies.map((r) => ({ code: r.code, retryAfterMs: (r.body as { retryAfterMs?: number } | undefined)?.retryAfterMs }));
}

describe("every command class has a per-user rate", () => {
  let h: Harness;
  const clock = new ManualClock();
  beforeAll(async () => {
    h = await startHarness({ rates: tightRates() }, { clock });
  });
  afterAll(() => h.stop());

  const byClass = new Map<RateClass, MethodId>();
  for (const [m, cmd] of Object.entries(COMMANDS)) if (cmd.rate && !byClass.has(cmd.rate)) byClass.set(cmd.rate, Number(m) as MethodId);

  test("every rate class of the config is used by some command", () => {
    expect([...byClass.keys()].sort() as string[]).toEqual(Object.keys(DEFAULTS.rates).sort());
  });

  for (const [cls, method] of byClass) {
    test(`${cls}: the command past the burst is refused with RateLimited, and admitted again after retryAfterMs`, async () => {
      const user = `rate-${cls}`;
      const owner = await RawConn.connected(h.server.wsUrl, await h.token(user, "setup"));
      // Set-up commands on another user's buckets: a peer creates both conversations with this user in them.
      const peer = await h.client(`${user}-peer`);
      const conv = (await peer.openDirect(user)).id;
      const group = (await peer.createGroup("limits", [user])).id;
      await peer.setAdmin(group, user, true);
      owner.close();

      const c = await RawConn.connected(h.server.wsUrl, await h.token(user, "d1"));
      const replies = await burst(c, method, BURST + 2, { conv, group });
      for (const r of replies.slice(0, BURST)) expect(r.code).not.toBe(ErrorCode.RateLimited);
      for (const r of replies.slice(BURST)) {
        expect(r.code).toBe(ErrorCode.RateLimited);
        expect(r.retryAfterMs).toBeGreaterThan(0);
      }
      clock.advance(replies[BURST]!.retryAfterMs!);
      const [after] = await burst(c, method, 1, { conv, group });
      expect(after!.code).not.toBe(ErrorCode.RateLimited);
      await c.expectAlive();
      c.close();
    });
  }
});

describe("floods", () => {
  let h: Harness;
  const clock = new ManualClock();
  beforeAll(async () => {
    // The product's defaults, except for the refusal budget, which is tested on its own below.
    h = await startHarness({ rates: DEFAULTS.rates, limits: { maxRefusedCommands: 100_000 } }, { clock });
  });
  afterAll(() => h.stop());

  test("50,000 TYPING frames: a few are relayed, the rest refused; the member and a bystander are unaffected", async () => {
    const flooder = await RawConn.connected(h.server.wsUrl, await h.token("typist", "t1"));
    const peer = await h.client("typist-peer");
    const conv = (await peer.openDirect("typist")).id;
    const member = await RawConn.connected(h.server.wsUrl, await h.token("typist-peer", "raw"));
    expect((await member.request(Method.Sync, { cursors: {} })).code).toBe(0);
    const bystander = await RawConn.connected(h.server.wsUrl, await h.token("bystander", "b1"));

    const N = 50_000;
    for (let i = 0; i < N; i++) flooder.send(encodeCommand(0, Method.Typing, { conv, on: i % 2 === 0 }));
    // The bystander is answered while the flood is being handled.
    await bystander.expectAlive();
    // Id-0 commands are answered only when they fail: wait for every refusal.
    const refusals = () => flooder.frames.filter((f) => f.type === FrameType.Reply && f.code === ErrorCode.RateLimited).length;
    await until(() => refusals() === N - DEFAULTS.rates.typing.burst, 60_000, "every TYPING past the burst to be refused");
    // Everything the flood caused reached the member before this reply did.
    await member.expectAlive();
    const pushes = member.frames.filter((f) => f.type === FrameType.Push && f.kind === PushKind.Typing);
    expect(pushes.length).toBeLessThanOrEqual(DEFAULTS.rates.typing.burst);
    expect(pushes.length).toBeGreaterThan(0);
    await flooder.expectAlive();
    await bystander.expectAlive();
    for (const c of [flooder, member, bystander]) c.close();
  });

  test("1,000 GROUP_CREATE and 1,010 group changes from one user: only the bursts pass", async () => {
    const c = await RawConn.connected(h.server.wsUrl, await h.token("grouper", "g1"));
    const members = Array.from({ length: 255 }, (_, i) => `victim-${i}`);
    const created = await Promise.all(
      Array.from({ length: 1000 }, async (_, i) => {
        const id = c.id();
        c.send(encodeCommand(id, Method.GroupCreate, { title: `spam ${i}`, members }));
        return (await c.reply(id, 60_000)).code;
      }),
    );
    expect(created.filter((code) => code === 0)).toHaveLength(DEFAULTS.rates.groupCreate.burst);
    expect(created.filter((code) => code === ErrorCode.RateLimited)).toHaveLength(1000 - DEFAULTS.rates.groupCreate.burst);

    const group = (await (await h.client("grouper", "sdk")).conversations()).find((x) => x.title === "spam 0" || x.title.startsWith("spam"))!.id;
    const changes = await Promise.all(
      Array.from({ length: 1010 }, async (_, i) => {
        const id = c.id();
        c.send(encodeCommand(id, i % 2 === 0 ? Method.GroupAdd : Method.GroupRemove, i % 2 === 0 ? { conv: group, users: ["extra"] } : { conv: group, user: "extra" }));
        return (await c.reply(id, 60_000)).code;
      }),
    );
    expect(changes.filter((code) => code !== ErrorCode.RateLimited)).toHaveLength(DEFAULTS.rates.groupChange.burst);
    await c.expectAlive();
    c.close();
  });

  test("2,000 MEDIA_UPLOAD requests: only the burst gets a slot", async () => {
    const c = await RawConn.connected(h.server.wsUrl, await h.token("uploader", "u1"));
    const codes = await Promise.all(
      Array.from({ length: 2000 }, async () => {
        const id = c.id();
        c.send(encodeCommand(id, Method.MediaUpload, { contentType: "video/mp4", size: 100 * 1024 * 1024, sha256: "0".repeat(64) }));
        return (await c.reply(id, 60_000)).code;
      }),
    );
    expect(codes.filter((code) => code === 0).length).toBeLessThanOrEqual(DEFAULTS.rates.mediaUpload.burst);
    expect(codes.filter((code) => code === ErrorCode.RateLimited).length).toBeGreaterThanOrEqual(2000 - DEFAULTS.rates.mediaUpload.burst);
    c.close();
  });
});

describe("connection budgets", () => {
  let h: Harness;
  const clock = new ManualClock();
  beforeAll(async () => {
    h = await startHarness({ rates: DEFAULTS.rates, limits: { commandsPerSecond: 10, commandsBurst: 20, maxRefusedCommands: 50, maxInflightPerConnection: 4 } }, { clock });
  });
  afterAll(() => h.stop());

  test("the connection's command budget covers every method, PING included", async () => {
    const c = await RawConn.connected(h.server.wsUrl, await h.token("budget", "b1"));
    // CONNECT took one token.
    const codes = await burst(c, Method.Ping, 25, { conv: "", group: "" });
    expect(codes.filter((r) => r.code === 0)).toHaveLength(19);
    expect(codes.slice(19).every((r) => r.code === ErrorCode.RateLimited && r.retryAfterMs! > 0)).toBe(true);
    clock.advance(1000);
    expect((await burst(c, Method.Ping, 10, { conv: "", group: "" })).every((r) => r.code === 0)).toBe(true);
    c.close();
  });

  test("a client that keeps sending after refusals is closed with 4005", async () => {
    const c = await RawConn.connected(h.server.wsUrl, await h.token("flooder", "f1"));
    for (let i = 0; i < 200; i++) c.send(encodeCommand(0, Method.ConvList, {}));
    expect(await c.closedWithin(10_000)).toBe(DisconnectCode.Flooding);
  });

  test("commands in flight on one connection are capped", async () => {
    const peer = await h.client("inflight-peer");
    const conv = (await peer.openDirect("inflight")).id;
    const c = await RawConn.connected(h.server.wsUrl, await h.token("inflight", "i1"));
    // Hold every append until released, so SENDs stay in flight.
    const store = h.embedded.node.ctx.messages;
    const append = store.append.bind(store);
    const held: (() => void)[] = [];
    store.append = (msg, opts) => new Promise((resolve, reject) => held.push(() => append(msg, opts).then(resolve, reject)));
    try {
      const ids = Array.from({ length: 6 }, () => c.id());
      ids.forEach((id, n) => c.send(encodeCommand(id, Method.Send, { conv, cid: `held-${n}`, kind: 1, body: te.encode(`held ${n}`) })));
      // Two past the cap of four are refused at once, while the first four wait for the store.
      const refused = await Promise.all(ids.slice(4).map((id) => c.reply(id)));
      expect(refused.map((r) => r.code)).toEqual([ErrorCode.RateLimited, ErrorCode.RateLimited]);
      expect(held).toHaveLength(4);
      for (const release of held) release();
      expect((await Promise.all(ids.slice(0, 4).map((id) => c.reply(id)))).map((r) => r.code)).toEqual([0, 0, 0, 0]);
    } finally {
      store.append = append;
    }
    c.close();
  });
});
