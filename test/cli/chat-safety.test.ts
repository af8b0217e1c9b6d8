// The terminal client (src/cli/chat.ts) driven through its stdin against a real server: it
// changes privacy settings, accepts an invitation and blocks a user.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { ErrorCode, ProtocolError } from "../../src/sdk/index.ts";
import { nextEvent, startHarness, type Harness } from "../helpers/harness.ts";
import { chatProcess } from "../helpers/chat-process.ts";

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h.stop());

test("the terminal client changes privacy settings, accepts an invitation and blocks a user", async () => {
  const bob = await h.client("tc-bob");
  const mallory = await h.client("tc-mallory");
  const c = chatProcess(h, "tc-alice");
  try {
    let at = await c.printed("no conversations yet");

    c.type("/privacy groupadd contacts online nobody");
    at = await c.printed("add to groups  contacts", at);
    await c.printed("online         nobody", 0);

    // Bob is no contact of Alice's: adding her to his group sends her an invitation.
    const g = await bob.createGroup("team", ["tc-alice"]);
    expect(g.invited).toEqual(["tc-alice"]);
    at = await c.printed("tc-bob invites you to [team] – /accept 1", at);
    const joined = nextEvent(bob, "conversation", (x) => x.conv.id === g.id && x.conv.members.some((m) => m.user === "tc-alice"));
    c.type("/accept 1");
    at = await c.printed("(you joined [team])", at);
    await joined;
    expect((await bob.conversation(g.id)).members.map((m) => m.user).sort()).toEqual(["tc-alice", "tc-bob"]);

    c.type("/block tc-mallory");
    at = await c.printed("(blocked tc-mallory", at);
    const refused = await mallory.openDirect("tc-alice").then(
      () => 0,
      (e) => (e instanceof ProtocolError ? e.code : -1),
    );
    expect(refused).toBe(ErrorCode.Blocked);
    c.type("/blocked");
    await c.printed("blocked: tc-mallory", at);

    c.type("/quit");
    expect(await c.proc.exited).toBe(0);
  } finally {
    c.proc.kill();
  }
}, 30_000);
