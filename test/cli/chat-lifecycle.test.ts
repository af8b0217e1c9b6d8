// The terminal client (src/cli/chat.ts) driven through its stdin against a real server: it
// replies, edits, reacts, deletes, hides, forwards, sets a disappearing timer and changes its own
// settings of a conversation; the other side is the SDK.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { decodeSystemEvent, MessageKind, SystemOp, type SystemEvent, type WireMessage } from "../../src/sdk/index.ts";
import { chatProcess } from "../helpers/chat-process.ts";
import { nextEvent, startHarness, text, type Harness } from "../helpers/harness.ts";

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h.stop());

const system = (m: WireMessage) => decodeSystemEvent(m.body) as SystemEvent;

test("the terminal client replies, edits, reacts, deletes, hides, forwards, sets a timer and its own settings", async () => {
  const bob = await h.client("tl-bob");
  const carol = await h.client("tl-carol");
  const alicePhone = await h.client("tl-alice", "phone");
  const c = chatProcess(h, "tl-alice");
  try {
    let at = await c.printed("no conversations yet");
    c.type("/dm tl-bob");
    at = await c.printed("── [tl-bob] ──", at);
    const conv = (await bob.openDirect("tl-alice")).id;
    await bob.send(conv, "lunch?");
    at = await c.printed("#1 tl-bob: lunch?", at);

    let got = nextEvent(bob, "message", (m) => m.kind === MessageKind.Text && text(m) === "yes");
    c.type("/reply 1 yes");
    expect((await got).ref).toBe(1);
    at = await c.printed("#2 tl-alice: ↪#1 yes", at);

    got = nextEvent(bob, "message", (m) => m.kind === MessageKind.Edit);
    c.type("/edit 2 yes, at noon");
    const edit = await got;
    expect([edit.ref, text(edit)]).toEqual([2, "yes, at noon"]);
    at = await c.printed("#2 tl-alice: ↪#1 yes, at noon (edited)", at);

    got = nextEvent(bob, "message", (m) => m.kind === MessageKind.Reaction);
    c.type("/react 1 👍");
    const reaction = await got;
    expect([reaction.ref, text(reaction)]).toEqual([1, "👍"]);
    at = await c.printed("#1 tl-bob: lunch? [👍 tl-alice]", at);

    // Bob's reaction reaches the terminal on the message it is about.
    await bob.react(conv, 2, "🎉");
    at = await c.printed("[🎉 tl-bob]", at);

    got = nextEvent(bob, "message", (m) => m.kind === MessageKind.System && system(m).op === SystemOp.MessageRemoved);
    c.type("/delete 2");
    expect(system(await got)).toMatchObject({ by: "tl-alice", ref: 2 });
    at = await c.printed("#2 tl-alice: [message deleted]", at);

    // Delete for me: the phone hears of it; bob still has the message.
    const hidden = nextEvent(alicePhone, "hidden");
    c.type("/hide 1");
    expect(await hidden).toEqual({ conv, seqs: [1] });
    at = await c.printed("#1 tl-bob: [message deleted]", at);

    got = nextEvent(bob, "message", (m) => m.kind === MessageKind.System && system(m).op === SystemOp.TimerChanged);
    c.type("/timer 1h");
    expect(system(await got).timer).toBe(3600);
    at = await c.printed("tl-alice turned on disappearing messages: 1 h", at);
    const short = nextEvent(bob, "message", (m) => text(m) === "gone in an hour");
    c.type("gone in an hour");
    expect((await short).exp).toBeGreaterThan(Date.now());
    at = await c.printed("gone in an hour ⏱", at);

    // Forward bob's next message to carol, by her name.
    await carol.openDirect("tl-alice");
    await bob.send(conv, "pass it on");
    at = await c.printed("tl-bob: pass it on", at);
    const seq = (await bob.history(conv)).messages.find((m) => text(m) === "pass it on")!.seq;
    const toCarol = nextEvent(carol, "message", (m) => text(m) === "pass it on");
    c.type(`/forward ${seq} tl-carol`);
    expect((await toCarol).from).toBe("tl-alice");
    at = await c.printed(`(forwarded #${seq} to [tl-carol])`, at);

    // Settings: on the phone too.
    const muted = nextEvent(alicePhone, "chatSettings", (s) => s.conv === conv && s.muteUntil > 0);
    c.type("/mute");
    expect((await muted).muteUntil).toBe(Number.MAX_SAFE_INTEGER);
    at = await c.printed("muted", at);
    const pinned = nextEvent(alicePhone, "chatSettings", (s) => s.pinned);
    c.type("/pin");
    await pinned;
    at = await c.printed("pinned, muted", at);

    c.type("/quit");
    expect(await c.proc.exited).toBe(0);
  } finally {
    c.proc.kill();
  }
}, 30_000);
