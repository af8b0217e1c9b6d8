// The message lifecycle through the protocol, on the embedded server, with several devices per
// user: edits in order with the conversation, windows, deletion for everyone (the store checked),
// delete for me, reactions, replies, forwarding, disappearing messages and per-user settings.
// Time is the server's injected clock, moved by the tests; nothing waits for time to pass.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import sharp from "sharp";
import { ManualClock } from "../../src/clock.ts";
import {
  Client,
  ConversationMessages,
  decodeSystemEvent,
  ErrorCode,
  MessageKind,
  ProtocolError,
  SystemOp,
  type ConvInfo,
  type SystemEvent,
  type WireMessage,
} from "../../src/sdk/index.ts";
import { collect, nextEvent, startHarness, text, until, type Harness } from "../helpers/harness.ts";
import { messageOfFrame } from "../../src/proto/message-frame.ts";

const clock = new ManualClock();
let h: Harness;
const EDIT_WINDOW_SEC = 60;
const DELETE_WINDOW_SEC = 120;

beforeAll(async () => {
  h = await startHarness(
    {
      messages: { editWindowSec: EDIT_WINDOW_SEC, deleteWindowSec: DELETE_WINDOW_SEC },
      storage: { expirySweepMs: 20 },
      media: { sweepIntervalMs: 20 },
      // The clock moves by minutes: connections must not time out meanwhile.
      heartbeat: { timeoutMs: 86_400_000 },
    },
    { clock, tokenTtlSec: 86_400 },
  );
});
afterAll(() => h.stop());

const codeOf = (p: Promise<unknown>) =>
  p.then(
    () => 0,
    (e) => (e instanceof ProtocolError ? e.code : -99),
  );
const system = (m: WireMessage) => decodeSystemEvent(m.body) as SystemEvent;
const te = new TextEncoder();

/** The embedded database, read beside the server (WAL: a second connection sees what it committed). */
function db(): Database {
  return new Database(join(h.dataDir, "msgr.db"), { readonly: true });
}

interface Row {
  kind: number;
  body: Uint8Array;
  media: string | null;
  edited: number | null;
}
/** A message's row, with the body its frame carries (rows hold their message as a MESSAGE frame). */
function storedRow(conv: string, seq: number): Row | null {
  const d = db();
  try {
    const row = d.query<Row & { frame: Uint8Array | null }, [string, number]>("SELECT kind, body, media, edited, frame FROM messages WHERE conv_id = ? AND seq = ?").get(conv, seq);
    if (!row) return null;
    const { frame, ...columns } = row;
    return frame ? { ...columns, body: messageOfFrame(frame).body } : columns;
  } finally {
    d.close();
  }
}

/** A connected client of `user` on a new device that syncs from nothing: what resume gives it. */
async function freshDevice(user: string, device: string): Promise<{ c: Client; log: WireMessage[] }> {
  const c = new Client({ url: h.server.wsUrl, token: await h.token(user, device), minBackoffMs: 50 });
  const log = collect(c);
  const synced = nextEvent(c, "synced");
  await c.connect();
  await synced;
  return { c, log };
}

async function group(admin: Client, title: string, members: string[]): Promise<ConvInfo> {
  return admin.createGroup(title, members);
}

describe("edits", () => {
  test("every device gets edits in order with the conversation; history and resume show the latest body with its time", async () => {
    const alice = await h.client("ed-alice", "phone");
    const aliceLaptop = await h.client("ed-alice", "laptop");
    const bobPhone = await h.client("ed-bob", "phone");
    const bobLaptop = await h.client("ed-bob", "laptop");
    const conv = (await alice.openDirect("ed-bob")).id;
    const logs = [aliceLaptop, bobPhone, bobLaptop].map((c) => collect(c));

    const m1 = await alice.send(conv, "helo");
    const m2 = await bobPhone.send(conv, "hi!");
    const e1 = await alice.edit(conv, m1.seq, "hello");
    const m3 = await alice.send(conv, "how are you?");
    const e2 = await alice.edit(conv, m1.seq, "hello bob");
    expect([m1.seq, m2.seq, e1.seq, m3.seq, e2.seq]).toEqual([1, 2, 3, 4, 5]);

    for (const log of logs) await until(() => log.filter((m) => m.conv === conv).length >= 5, 5000, "the messages on every device");
    // Every seq, once and in order, on every device (the SDK adds a device's own sends from their
    // acks), edits carrying their target.
    for (const log of logs) {
      const mine = log.filter((m) => m.conv === conv);
      expect(mine.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5]);
      const edits = mine.filter((m) => m.kind === MessageKind.Edit);
      expect(edits.map((m) => [m.ref, text(m)])).toEqual([
        [1, "hello"],
        [1, "hello bob"],
      ]);
    }
    // Applied in order, every device shows the latest body.
    const view = new ConversationMessages();
    for (const m of logs[2]!.filter((x) => x.conv === conv)) view.apply(m);
    expect(text(view.bySeq.get(1)!)).toBe("hello bob");
    expect(view.bySeq.get(1)!.edited).toBe(e2.ts);

    // History: the message itself carries the latest body, and when it was edited.
    const page = await bobPhone.history(conv);
    const first = page.messages.find((m) => m.seq === 1)!;
    expect(text(first)).toBe("hello bob");
    expect(first.edited).toBe(e2.ts);
    expect(page.messages.find((m) => m.seq === 2)!.edited).toBeUndefined();
    // Resume from nothing: the same.
    const { c, log } = await freshDevice("ed-bob", "tablet");
    expect(log.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(text(log[0]!)).toBe("hello bob");
    expect(log[0]!.edited).toBe(e2.ts);
    c.close();
  });

  test("only the sender edits, only within the edit window; edits of edits, reactions and system messages are refused", async () => {
    const alice = await h.client("ew-alice");
    const bob = await h.client("ew-bob");
    const g = await group(alice, "edits", ["ew-bob"]);
    const m = await alice.send(g.id, "first draft");
    expect(await codeOf(bob.edit(g.id, m.seq, "mine now"))).toBe(ErrorCode.Forbidden);
    expect(await codeOf(alice.edit(g.id, 1, "not a system message"))).toBe(ErrorCode.InvalidParams);
    const e = await alice.edit(g.id, m.seq, "second draft");
    expect(await codeOf(alice.edit(g.id, e.seq, "an edit of an edit"))).toBe(ErrorCode.InvalidParams);
    expect(await codeOf(alice.edit(g.id, 999, "nothing there"))).toBe(ErrorCode.NotFound);

    clock.advance(EDIT_WINDOW_SEC * 1000 + 1);
    const before = (await alice.conversation(g.id)).lastSeq;
    expect(await codeOf(alice.edit(g.id, m.seq, "too late"))).toBe(ErrorCode.WindowClosed);
    // Refused edits stored nothing and changed nothing.
    expect((await alice.conversation(g.id)).lastSeq).toBe(before);
    expect(text((await alice.history(g.id)).messages.find((x) => x.seq === m.seq)!)).toBe("second draft");
    // A message sent now can be edited again.
    const fresh = await alice.send(g.id, "typo");
    await alice.edit(g.id, fresh.seq, "no typo");
  });
});

describe("delete for everyone", () => {
  test("the sender deletes: the body (and its edits') is erased from the store, devices get a tombstone, history and resume return it", async () => {
    const alice = await h.client("del-alice", "phone");
    const aliceLaptop = await h.client("del-alice", "laptop");
    const bob = await h.client("del-bob");
    const conv = (await alice.openDirect("del-bob")).id;
    const secret = `secret-${crypto.randomUUID()}`;
    const m = await alice.send(conv, `${secret}-original`);
    const e = await alice.edit(conv, m.seq, `${secret}-edited`);
    await bob.send(conv, "keep me");
    expect(text(storedRow(conv, m.seq)! as unknown as WireMessage)).toBe(`${secret}-edited`);

    const atBob = nextEvent(bob, "message", (x) => x.kind === MessageKind.System && system(x).op === SystemOp.MessageRemoved);
    const atLaptop = nextEvent(aliceLaptop, "message", (x) => x.kind === MessageKind.System && system(x).op === SystemOp.MessageRemoved);
    const notice = await alice.deleteForEveryone(conv, m.seq);
    for (const ev of [await atBob, await atLaptop]) {
      expect(ev.seq).toBe(notice);
      expect(system(ev)).toEqual({ op: SystemOp.MessageRemoved, by: "del-alice", ref: m.seq });
    }

    // The store holds no trace of the content: the message and its edit are tombstones.
    for (const seq of [m.seq, e.seq]) {
      const row = storedRow(conv, seq)!;
      expect(row.kind).toBe(MessageKind.Removed);
      expect(row.body.length).toBe(0);
      expect(row.edited).toBeNull();
    }
    expect(storedRow(conv, 3)!.body.length).toBeGreaterThan(0);
    // Not in the database file either, once the WAL is checkpointed into it.
    const d = new Database(join(h.dataDir, "msgr.db"));
    d.run("PRAGMA wal_checkpoint(TRUNCATE)");
    d.close();
    expect(readFileSync(join(h.dataDir, "msgr.db")).includes(secret)).toBe(false);

    // History and resume: the tombstone keeps its place and sender.
    const hist = (await bob.history(conv)).messages;
    expect(hist.find((x) => x.seq === m.seq)).toMatchObject({ kind: MessageKind.Removed, from: "del-alice", body: new Uint8Array(0) });
    expect(hist.find((x) => x.seq === e.seq)!.kind).toBe(MessageKind.Removed);
    const { c, log } = await freshDevice("del-bob", "tablet");
    expect(log.find((x) => x.seq === m.seq)).toMatchObject({ kind: MessageKind.Removed, from: "del-alice" });
    c.close();

    // Deleting it again changes nothing; the window applies to the sender.
    expect(await alice.deleteForEveryone(conv, m.seq)).toBe(0);
    const late = await alice.send(conv, "old news");
    clock.advance(DELETE_WINDOW_SEC * 1000 + 1);
    expect(await codeOf(alice.deleteForEveryone(conv, late.seq))).toBe(ErrorCode.WindowClosed);
  });

  test("in a group a member cannot delete another's message; an admin can, any time; media is deleted with the message", async () => {
    const admin = await h.client("dg-admin");
    const bob = await h.client("dg-bob");
    const carol = await h.client("dg-carol");
    const g = await group(admin, "moderated", ["dg-bob", "dg-carol"]);
    const image = await sharp({ create: { width: 8, height: 8, channels: 3, background: "#f00" } }).png().toBuffer();
    const media = await carol.uploadMedia(new Uint8Array(image), "image/png");
    const m = await carol.send(g.id, "look", { media });
    const key = ((await h.embedded.node.ctx.metadata.getMedia(media))!).objectKey!;
    expect(await codeOf(bob.deleteForEveryone(g.id, m.seq))).toBe(ErrorCode.Forbidden);
    expect((await bob.history(g.id)).messages.find((x) => x.seq === m.seq)!.kind).toBe(MessageKind.Media);

    clock.advance(DELETE_WINDOW_SEC * 1000 + 1);
    const atCarol = nextEvent(carol, "message", (x) => x.kind === MessageKind.System && system(x).op === SystemOp.MessageRemoved);
    await admin.deleteForEveryone(g.id, m.seq);
    expect(system(await atCarol).by).toBe("dg-admin");
    expect(storedRow(g.id, m.seq)).toMatchObject({ kind: MessageKind.Removed, media: null });
    // The media record and its object are gone.
    expect(await h.embedded.node.ctx.metadata.getMedia(media)).toBeNull();
    const hash = createHash("sha256").update(key).digest("hex");
    expect(existsSync(join(h.dataDir, "media", "objects", hash.slice(0, 2), hash))).toBe(false);
    expect(await codeOf(bob.mediaUrl(media))).toBe(ErrorCode.NotFound);
    // System messages are not the members' to delete.
    expect(await codeOf(admin.deleteForEveryone(g.id, 1))).toBe(ErrorCode.InvalidParams);
  });
});

describe("delete for me", () => {
  test("hidden on every device of the user, in their history and resume, and for nobody else", async () => {
    const alice = await h.client("hide-alice", "phone");
    const laptop = await h.client("hide-alice", "laptop");
    const bob = await h.client("hide-bob");
    const conv = (await alice.openDirect("hide-bob")).id;
    const m = await bob.send(conv, "embarrassing");
    await bob.send(conv, "fine");
    const pushed = nextEvent(laptop, "hidden");
    await alice.hide(conv, [m.seq]);
    expect(await pushed).toEqual({ conv, seqs: [m.seq] });
    expect((await alice.history(conv)).messages.find((x) => x.seq === m.seq)!.kind).toBe(MessageKind.Removed);
    expect(text((await bob.history(conv)).messages.find((x) => x.seq === m.seq)!)).toBe("embarrassing");
    const { c, log } = await freshDevice("hide-alice", "tablet");
    expect(log.map((x) => [x.seq, x.kind])).toEqual([
      [m.seq, MessageKind.Removed],
      [m.seq + 1, MessageKind.Text],
    ]);
    expect((await c.chatSettings()).hidden).toEqual([{ conv, seqs: [m.seq] }]);
    c.close();
    expect(await codeOf(alice.hide(conv, [99]))).toBe(ErrorCode.NotFound);
  });
});

describe("reactions", () => {
  test("one per member per message: two devices of one user replace each other's; removal; relayed and returned by history as events", async () => {
    const alice = await h.client("re-alice");
    const bobPhone = await h.client("re-bob", "phone");
    const bobLaptop = await h.client("re-bob", "laptop");
    const carol = await h.client("re-carol");
    const g = await group(alice, "reactions", ["re-bob", "re-carol"]);
    const log = collect(alice);
    const m = await alice.send(g.id, "party at 8");
    await bobPhone.react(g.id, m.seq, "👍");
    await bobLaptop.react(g.id, m.seq, "🎉");
    await carol.react(g.id, m.seq, "👍");
    await carol.react(g.id, m.seq, "");
    await until(() => log.filter((x) => x.kind === MessageKind.Reaction).length === 4, 5000, "the reactions at alice");
    const view = new ConversationMessages();
    for (const x of log.filter((y) => y.conv === g.id)) view.apply(x);
    const shown = view.bySeq.get(m.seq)!;
    expect([...shown.reactions].map(([u, r]) => [u, new TextDecoder().decode(r)])).toEqual([["re-bob", "🎉"]]);

    // History returns them as events; folded, they give the same.
    const again = new ConversationMessages();
    for (const x of (await carol.history(g.id)).messages.reverse()) again.apply(x);
    expect([...again.bySeq.get(m.seq)!.reactions.keys()]).toEqual(["re-bob"]);
    // Reactions need a message with content: not a system message, nor another reaction.
    expect(await codeOf(carol.react(g.id, 1, "👍"))).toBe(ErrorCode.InvalidParams);
    const r = (await carol.react(g.id, m.seq, "👀")).seq;
    expect(await codeOf(carol.react(g.id, r, "👀"))).toBe(ErrorCode.InvalidParams);
    expect(await codeOf(carol.react(g.id, 999, "👀"))).toBe(ErrorCode.NotFound);
  });
});

describe("replies", () => {
  test("a reply names a visible message of its conversation; one in another conversation, or before the member joined, is refused", async () => {
    const alice = await h.client("rp-alice");
    const bob = await h.client("rp-bob");
    const dm = (await alice.openDirect("rp-bob")).id;
    const g = await group(alice, "replies", ["rp-bob"]);
    for (let i = 0; i < 5; i++) await alice.send(g.id, `group ${i}`);
    const q = await alice.send(dm, "question");
    const got = nextEvent(bob, "message", (m) => m.conv === dm && text(m) === "answer");
    const a = await bob.reply(dm, q.seq, "answer");
    expect((await got).ref).toBe(q.seq);
    expect((await alice.history(dm)).messages.find((m) => m.seq === a.seq)!.ref).toBe(q.seq);
    // Seq 5 exists in the group, not in the direct conversation.
    const before = (await alice.conversation(dm)).lastSeq;
    expect(await codeOf(bob.reply(dm, 5, "to the group?"))).toBe(ErrorCode.NotFound);
    expect((await alice.conversation(dm)).lastSeq).toBe(before);
    // Carol joins the group later: what came before is not hers to quote.
    const carol = await h.client("rp-carol");
    await alice.addMembers(g.id, ["rp-carol"]);
    expect(await codeOf(carol.reply(g.id, 3, "late"))).toBe(ErrorCode.NotFound);
    const welcome = await alice.send(g.id, "welcome carol");
    await carol.reply(g.id, welcome.seq, "thanks");
  });
});

describe("forwarding", () => {
  test("media forwarded to another conversation without an upload; refused without read access to the source", async () => {
    const alice = await h.client("fw-alice");
    const bob = await h.client("fw-bob");
    const carol = await h.client("fw-carol");
    const mallory = await h.client("fw-mallory");
    const g = await group(alice, "photos", ["fw-bob"]);
    const image = new Uint8Array(await sharp({ create: { width: 16, height: 16, channels: 3, background: "#0a0" } }).png().toBuffer());
    const media = await alice.uploadMedia(image, "image/png");
    const sent = await alice.send(g.id, "sunset", { media });
    const original = (await bob.history(g.id)).messages.find((m) => m.seq === sent.seq)!;

    const dm = (await bob.openDirect("fw-carol")).id;
    const atCarol = nextEvent(carol, "message", (m) => m.conv === dm);
    const fwd = await bob.forward(original, dm);
    const got = await atCarol;
    expect(got.kind).toBe(MessageKind.Media);
    expect(text(got)).toBe("sunset");
    expect(got.media).toBe(fwd.media!);
    expect(got.media).not.toBe(media);
    // Carol reads the copy; it is the same file.
    const url = await carol.mediaUrl(got.media!);
    expect(new Uint8Array(await (await fetch(url.url)).arrayBuffer())).toEqual(image);
    // The original stays Alice's group's.
    expect(await codeOf(carol.mediaUrl(media))).toBe(ErrorCode.NotFound);

    // Mallory is not in the group: she cannot forward from it, whatever she names.
    const dm2 = (await mallory.openDirect("fw-carol")).id;
    expect(await codeOf(mallory.forward(original, dm2))).toBe(ErrorCode.Forbidden);
    // Carol, added later, cannot forward what came before she joined.
    await alice.addMembers(g.id, ["fw-carol"]);
    expect(await codeOf(carol.forward(original, dm))).toBe(ErrorCode.NotFound);
    // Nor into a conversation she is not in.
    expect(await codeOf(bob.forward(original, dm2))).toBe(ErrorCode.Forbidden);
  });
});

describe("disappearing messages", () => {
  test("a member of a direct conversation sets the timer; messages and their media are gone from the store and from history when it runs out", async () => {
    const alice = await h.client("dis-alice");
    const bob = await h.client("dis-bob");
    const conv = (await alice.openDirect("dis-bob")).id;
    const kept = await alice.send(conv, "before the timer");
    const announced = nextEvent(bob, "message", (m) => m.kind === MessageKind.System && system(m).op === SystemOp.TimerChanged);
    const convPush = nextEvent(bob, "conversation", (p) => p.conv.id === conv && p.conv.timer === 60);
    await bob.setTimer(conv, 60);
    expect(system(await announced)).toEqual({ op: SystemOp.TimerChanged, by: "dis-bob", timer: 60 });
    await convPush;
    expect(await codeOf(bob.setTimer(conv, 60))).toBe(ErrorCode.Conflict);

    const image = new Uint8Array(await sharp({ create: { width: 8, height: 8, channels: 3, background: "#00f" } }).png().toBuffer());
    const media = await alice.uploadMedia(image, "image/png");
    const gone = await alice.send(conv, "this will disappear");
    const pic = await alice.send(conv, "and this", { media });
    expect(gone.exp).toBe(gone.ts + 60_000);
    const atBob = (await bob.history(conv)).messages.find((m) => m.seq === gone.seq)!;
    expect(atBob.exp).toBe(gone.exp!);
    await until(async () => (await h.embedded.node.ctx.metadata.getMedia(media))?.thumb != null, 5000, "the thumbnail");

    clock.advance(60_000);
    // Gone from the store (the expiry sweep), with the media (the media sweep) and its thumbnail.
    await until(() => storedRow(conv, gone.seq) === null && storedRow(conv, pic.seq) === null, 5000, "the rows deleted");
    await until(async () => (await h.embedded.node.ctx.metadata.getMedia(media)) === null, 5000, "the media deleted");
    const texts = (await bob.history(conv)).messages.filter((m) => m.kind !== MessageKind.System).map(text);
    expect(texts).toEqual([kept.seq].map(() => "before the timer"));
    // A device resuming from before them gets their places as tombstones, never a hole.
    const { c, log } = await freshDevice("dis-bob", "tablet");
    expect(log.map((m) => m.seq)).toEqual(log.map((_, i) => i + 1));
    c.close();

    // Off again: new messages stay.
    await alice.setTimer(conv, 0);
    expect((await alice.send(conv, "stays")).exp).toBeUndefined();
  });

  test("in a group only admins set the timer", async () => {
    const admin = await h.client("dg2-admin");
    const member = await h.client("dg2-member");
    const g = await group(admin, "timed", ["dg2-member"]);
    expect(await codeOf(member.setTimer(g.id, 3600))).toBe(ErrorCode.Forbidden);
    await admin.setTimer(g.id, 3600);
    expect((await member.conversation(g.id)).timer).toBe(3600);
  });

  test("a message whose time came is hidden from history at once, before the store deletes it", async () => {
    const alice = await h.client("dis2-alice");
    const conv = (await alice.openDirect("dis2-bob")).id;
    await alice.setTimer(conv, 30);
    await alice.send(conv, "short-lived");
    const sweeps = h.embedded.node.ctx.messages.pruneExpired.bind(h.embedded.node.ctx.messages);
    // Reads decide by the clock alone: stop the sweep to see it.
    h.embedded.node.ctx.messages.pruneExpired = async () => 0;
    try {
      clock.advance(30_000);
      expect((await alice.history(conv)).messages.filter((m) => m.kind !== MessageKind.System)).toEqual([]);
    } finally {
      h.embedded.node.ctx.messages.pruneExpired = sweeps;
    }
  });
});

describe("per-user conversation settings", () => {
  test("a change on one device reaches the user's other devices and survives a reconnect; others are unaffected", async () => {
    const phone = await h.client("set-alice", "phone");
    const laptop = await h.client("set-alice", "laptop");
    const bob = await h.client("set-bob");
    const conv = (await phone.openDirect("set-bob")).id;
    const until1h = Date.now() + 3_600_000;
    const pushed = nextEvent(laptop, "chatSettings", (s) => s.conv === conv && s.pinned);
    const settings = await phone.setChatSettings(conv, { muteUntil: until1h, pinned: true });
    expect(settings).toEqual({ conv, muteUntil: until1h, archived: false, pinned: true, unread: false });
    expect(await pushed).toEqual(settings);
    const archived = nextEvent(phone, "chatSettings", (s) => s.archived);
    await laptop.setChatSettings(conv, { archived: true, unread: true });
    expect(await archived).toEqual({ ...settings, archived: true, unread: true });

    // The laptop goes away and comes back: the settings are the server's.
    laptop.close();
    const back = await h.client("set-alice", "laptop");
    expect((await back.chatSettings()).settings).toEqual([{ ...settings, archived: true, unread: true }]);
    expect((await bob.chatSettings()).settings).toEqual([]);
    // Only members have settings for a conversation.
    const stranger = await h.client("set-stranger");
    expect(await codeOf(stranger.setChatSettings(conv, { pinned: true }))).toBe(ErrorCode.Forbidden);
    // Muted: the notifier is told so (its push suppression is tested in test/push/notifier.test.ts).
    expect(await h.embedded.node.ctx.metadata.mutedAmong(conv, ["set-alice", "set-bob"], Date.now())).toEqual(new Set(["set-alice"]));
  });
});

describe("a message about another one is checked before it is stored", () => {
  test("kinds and parameters that contradict each other are refused", async () => {
    const alice = await h.client("chk-alice");
    const conv = (await alice.openDirect("chk-bob")).id;
    const m = await alice.send(conv, "x");
    expect(await codeOf(alice.send(conv, "no target", { kind: MessageKind.Edit }))).toBe(ErrorCode.InvalidParams);
    expect(await codeOf(alice.send(conv, "no target", { kind: MessageKind.Reaction }))).toBe(ErrorCode.InvalidParams);
    expect(await codeOf(alice.send(conv, "both", { ref: m.seq, forward: { conv, seq: m.seq } }))).toBe(ErrorCode.InvalidParams);
    expect(await codeOf(alice.send(conv, "x", { kind: MessageKind.Removed }))).toBe(ErrorCode.InvalidParams);
    expect((await alice.conversation(conv)).lastSeq).toBe(m.seq);
    // An edit's body goes through as bytes the server never reads (it may be ciphertext).
    const cipher = crypto.getRandomValues(new Uint8Array(64));
    await alice.edit(conv, m.seq, cipher);
    expect((await alice.history(conv)).messages.find((x) => x.seq === m.seq)!.body).toEqual(cipher);
    void te;
  });
});
