// Safety through the protocol, against a real server: blocking, privacy settings enforced by the
// server in each direction, consent to join groups (invitations, invite links), presence that
// being put into a conversation does not reveal, read receipts, contacts, the user registry and
// reports.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { decodeSystemEvent, ErrorCode, MessageKind, Method, ProtocolError, SystemOp, type Client, type PresenceInfo, type SystemEvent } from "../../src/sdk/index.ts";
import { HARNESS_START_MS, nextEvent, startHarness, text, until, type Harness } from "../helpers/harness.ts";
import { forEachTopology } from "../helpers/topology.ts";

forEachTopology((topology) => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({}, { topology });
  }, HARNESS_START_MS);
  afterAll(() => h.stop());

  const codeOf = (p: Promise<unknown>) =>
    p.then(
      () => 0,
      (e) => (e instanceof ProtocolError ? e.code : -99),
    );

  /** Both open their direct conversation: each is in it by choice, so presence may show. */
  async function talk(a: Client, b: Client): Promise<string> {
    const conv = await a.openDirect(b.session!.user);
    await b.openDirect(a.session!.user);
    return conv.id;
  }

  async function seen(viewer: Client, target: string): Promise<PresenceInfo> {
    return (await viewer.watchPresence([target]))[0]!;
  }

  /** Resolves once `user`'s last device is offline in the server's presence store. */
  async function offline(user: string): Promise<void> {
    await until(async () => (await (await h.stores()).presence.onlineDevices(user)).length === 0, 5000, `${user} offline`);
  }

  const system = (body: Uint8Array) => decodeSystemEvent(body) as SystemEvent;

  describe("blocking", () => {
    test("a blocked user can neither open a direct conversation nor send in one, both ways; unblocking restores it", async () => {
      const alice = await h.client("bk-alice");
      const mallory = await h.client("bk-mallory");
      const conv = await talk(alice, mallory);
      await alice.block("bk-mallory");
      expect(await codeOf(mallory.openDirect("bk-alice"))).toBe(ErrorCode.Blocked);
      expect(await codeOf(mallory.send(conv, "hello?"))).toBe(ErrorCode.Blocked);
      // The blocker must unblock first, as in WhatsApp.
      expect(await codeOf(alice.openDirect("bk-mallory"))).toBe(ErrorCode.Blocked);
      expect(await codeOf(alice.send(conv, "hi"))).toBe(ErrorCode.Blocked);
      // Refused sends stored nothing.
      expect((await alice.history(conv)).messages).toEqual([]);

      await alice.unblock("bk-mallory");
      const atAlice = nextEvent(alice, "message", (m) => text(m) === "sorry");
      await mallory.send(conv, "sorry");
      await atAlice;
    });

    test("a blocked user cannot add the blocker to a group, nor create one with them", async () => {
      const alice = await h.client("bg-alice");
      const mallory = await h.client("bg-mallory");
      await alice.block("bg-mallory");
      expect(await codeOf(mallory.createGroup("trap", ["bg-alice"]))).toBe(ErrorCode.Blocked);
      const g = await mallory.createGroup("trap", []);
      expect(await codeOf(mallory.addMembers(g.id, ["bg-alice"]))).toBe(ErrorCode.Blocked);
      expect((await mallory.conversation(g.id)).members.map((m) => m.user)).toEqual(["bg-mallory"]);
      expect(await alice.invitations()).toEqual([]);
    });

    test("the blocked user sees no presence or last seen: a live watch drops to offline at once", async () => {
      const alice = await h.client("bp-alice");
      const mallory = await h.client("bp-mallory");
      await talk(alice, mallory);
      expect(await seen(mallory, "bp-alice")).toEqual({ user: "bp-alice", online: true, lastSeen: 0 });
      const dropped = nextEvent(mallory, "presence", (p) => p.user === "bp-alice" && !p.online);
      await alice.block("bp-mallory");
      expect(await dropped).toEqual({ user: "bp-alice", online: false, lastSeen: 0 });
      expect(await seen(mallory, "bp-alice")).toEqual({ user: "bp-alice", online: false, lastSeen: 0 });

      // Alice coming and going is not heard either, nor is her last seen.
      const heard: PresenceInfo[] = [];
      mallory.on("presence", (p) => heard.push(p));
      const second = await h.client("bp-alice", "bp-alice-laptop");
      alice.close();
      second.close();
      await offline("bp-alice");
      expect(await seen(mallory, "bp-alice")).toEqual({ user: "bp-alice", online: false, lastSeen: 0 });
      expect(heard).toEqual([]);
    });

    test("the blocked user sees no typing from the blocker in a shared group; other members do", async () => {
      const alice = await h.client("bt-alice");
      const mallory = await h.client("bt-mallory");
      const carol = await h.client("bt-carol");
      const g = await alice.createGroup("shared", ["bt-mallory", "bt-carol"]);
      await alice.block("bt-mallory");
      let malloryHeard = false;
      mallory.on("typing", (t) => t.user === "bt-alice" && (malloryHeard = true));
      const atCarol = nextEvent(carol, "typing", (t) => t.user === "bt-alice" && t.on);
      alice.typing(g.id, true);
      await atCarol;
      // Messages in the group still flow: blocking is about 1:1 contact, presence and typing.
      // Alice's message leaves her node after her typing, and reaches Mallory's devices through
      // the same user actor: once it arrives, her typing would have too.
      const msg = nextEvent(mallory, "message", (m) => text(m) === "still here");
      await alice.send(g.id, "still here");
      await msg;
      expect(malloryHeard).toBe(false);
      // Carol's typing still reaches Mallory.
      const fromCarol = nextEvent(mallory, "typing", (t) => t.user === "bt-carol");
      carol.typing(g.id, true);
      await fromCarol;
    });

    test("the block list syncs to the blocker's other devices", async () => {
      const phone = await h.client("bs-alice", "phone");
      const laptop = await h.client("bs-alice", "laptop");
      const pushed = nextEvent(laptop, "blocks", (b) => b.users.includes("bs-eve"));
      await phone.block("bs-eve");
      expect(await pushed).toEqual({ users: ["bs-eve"] });
      expect(await laptop.blocked()).toEqual(["bs-eve"]);
      const cleared = nextEvent(laptop, "blocks", (b) => b.users.length === 0);
      await phone.unblock("bs-eve");
      await cleared;
      expect(await codeOf(phone.block("bs-alice"))).toBe(ErrorCode.InvalidParams);
    });
  });

  describe("privacy settings", () => {
    /** A viewer and a target (online) who chose to talk to each other. */
    async function pair(tag: string): Promise<{ viewer: Client; target: Client; v: string; t: string }> {
      const v = `pv-${tag}`;
      const t = `pt-${tag}`;
      const viewer = await h.client(v);
      const target = await h.client(t);
      await talk(viewer, target);
      return { viewer, target, v, t };
    }

    test("defaults: everyone who chose a conversation with the user sees online and last seen", async () => {
      const { viewer, target, t } = await pair("default");
      expect(await target.privacy()).toEqual({ lastSeen: "everyone", online: "everyone", groupAdd: "everyone", readReceipts: true });
      expect(await seen(viewer, t)).toEqual({ user: t, online: true, lastSeen: 0 });
      const gone = nextEvent(viewer, "presence", (p) => p.user === t && !p.online);
      target.close();
      expect((await gone).lastSeen).toBeGreaterThan(0);
    });

    test("online: nobody hides online from the viewer; reciprocally the user no longer sees the viewer online", async () => {
      const { viewer, target, v, t } = await pair("online-nobody");
      expect(await seen(viewer, t)).toEqual({ user: t, online: true, lastSeen: 0 });
      const hidden = nextEvent(viewer, "presence", (p) => p.user === t);
      await target.setPrivacy({ online: "nobody" });
      // The watch is decided again at once: the viewer is told the target now reads as offline.
      expect(await hidden).toEqual({ user: t, online: false, lastSeen: 0 });
      expect(await seen(viewer, t)).toEqual({ user: t, online: false, lastSeen: 0 });
      expect(await seen(target, v)).toEqual({ user: v, online: false, lastSeen: 0 });
    });

    test("online: contacts shows online only to the user's contacts, and only if the viewer's own setting admits the user", async () => {
      const { viewer, target, v, t } = await pair("online-contacts");
      await target.setPrivacy({ online: "contacts" });
      expect((await seen(viewer, t)).online).toBe(false);
      const shown = nextEvent(viewer, "presence", (p) => p.user === t && p.online);
      await target.addContacts([v]);
      await shown;
      expect((await seen(viewer, t)).online).toBe(true);
      // Reciprocity: the viewer limits online to contacts and does not list the target.
      await viewer.setPrivacy({ online: "contacts" });
      expect((await seen(viewer, t)).online).toBe(false);
      await viewer.addContacts([t]);
      expect((await seen(viewer, t)).online).toBe(true);
    });

    test("last seen: everyone / contacts / nobody, both directions", async () => {
      const { viewer, target, v, t } = await pair("last-seen");
      const laptop = await h.client(v, `${v}-laptop`);
      target.close();
      await offline(t);
      expect((await seen(viewer, t)).lastSeen).toBeGreaterThan(0);

      const again = await h.client(t, `${t}-tablet`);
      await again.setPrivacy({ lastSeen: "nobody" });
      again.close();
      await offline(t);
      expect(await seen(viewer, t)).toEqual({ user: t, online: false, lastSeen: 0 });

      const third = await h.client(t, `${t}-desk`);
      await third.setPrivacy({ lastSeen: "contacts" });
      await third.addContacts([v]);
      third.close();
      await offline(t);
      expect((await seen(viewer, t)).lastSeen).toBeGreaterThan(0);

      // Reciprocity: a viewer who hides their own last seen sees nobody's.
      await viewer.setPrivacy({ lastSeen: "nobody" });
      expect((await seen(viewer, t)).lastSeen).toBe(0);
      // And the target, back online, no longer sees the viewer's last seen.
      viewer.close();
      laptop.close();
      await offline(v);
      const fourth = await h.client(t, `${t}-desk`);
      expect(await seen(fourth, v)).toEqual({ user: v, online: false, lastSeen: 0 });
    });

    test("settings sync to the user's other devices, and only the settings sent change", async () => {
      const phone = await h.client("ps-alice", "phone");
      const laptop = await h.client("ps-alice", "laptop");
      const pushed = nextEvent(laptop, "privacy");
      const all = await phone.setPrivacy({ readReceipts: false, groupAdd: "contacts" });
      expect(all).toEqual({ lastSeen: "everyone", online: "everyone", groupAdd: "contacts", readReceipts: false });
      expect(await pushed).toEqual(all);
      expect(await laptop.privacy()).toEqual(all);
      expect(await codeOf(phone.request(Method.PrivacySet, { online: "friends" }))).toBe(ErrorCode.InvalidParams);
    });

    test("contacts sync to the user's other devices", async () => {
      const phone = await h.client("cs-alice", "phone");
      const laptop = await h.client("cs-alice", "laptop");
      const pushed = nextEvent(laptop, "contacts", (c) => c.users.length === 2);
      await phone.addContacts(["cs-bob", "cs-carol", "cs-alice"]);
      expect(await pushed).toEqual({ users: ["cs-bob", "cs-carol"] });
      await phone.removeContacts(["cs-bob"]);
      expect(await laptop.contacts()).toEqual(["cs-carol"]);
    });
  });

  describe("presence is not revealed by being put into a conversation", () => {
    test("a stranger who creates a group with the user, or opens a direct conversation, sees nothing until the user takes part", async () => {
      const target = await h.client("pr-target");
      const stranger = await h.client("pr-stranger");
      const g = await stranger.createGroup("bait", ["pr-target"]);
      expect(g.members.map((m) => m.user).sort()).toEqual(["pr-stranger", "pr-target"]);
      expect(await seen(stranger, "pr-target")).toEqual({ user: "pr-target", online: false, lastSeen: 0 });
      const dm = await stranger.openDirect("pr-target");
      expect(await seen(stranger, "pr-target")).toEqual({ user: "pr-target", online: false, lastSeen: 0 });
      // The target's coming and going is not heard.
      const heard: PresenceInfo[] = [];
      stranger.on("presence", (p) => heard.push(p));
      const second = await h.client("pr-target", "pr-target-2");
      second.close();
      await until(async () => (await (await h.stores()).presence.onlineDevices("pr-target")).length === 1);
      expect(heard).toEqual([]);

      // The target answers in the direct conversation: that one is now their choice too.
      const visible = nextEvent(stranger, "presence", (p) => p.user === "pr-target" && p.online);
      await target.send(dm.id, "who are you?");
      await visible;
      void g;
    });
  });

  describe("group invitations", () => {
    test("a user who allows only contacts to add them is invited instead; they accept", async () => {
      const admin = await h.client("gi-admin");
      const bob = await h.client("gi-bob");
      const bobLaptop = await h.client("gi-bob", "gi-bob-laptop");
      await bob.setPrivacy({ groupAdd: "contacts" });
      const g = await admin.createGroup("team", []);

      const invited = nextEvent(bob, "invitation", (i) => !i.removed);
      expect(await admin.addMembers(g.id, ["gi-bob"])).toEqual({ seq: 0, invited: ["gi-bob"] });
      expect((await invited).invitation).toMatchObject({ conv: g.id, title: "team", by: "gi-admin" });
      expect((await admin.conversation(g.id)).members.map((m) => m.user)).toEqual(["gi-admin"]);
      expect((await bob.invitations()).map((i) => i.conv)).toEqual([g.id]);
      expect(await codeOf(bob.history(g.id))).toBe(ErrorCode.Forbidden);

      const joined = nextEvent(bob, "conversation", (c) => c.conv.id === g.id && !c.removed);
      const cleared = nextEvent(bobLaptop, "invitation", (i) => i.removed);
      const { seq } = await bob.acceptInvitation(g.id);
      await joined;
      await cleared;
      const [m] = (await bob.history(g.id)).messages;
      expect(m!.seq).toBe(seq);
      expect(system(m!.body)).toMatchObject({ op: SystemOp.Joined, by: "gi-bob" });
      expect(await bob.invitations()).toEqual([]);
      expect(await codeOf(bob.acceptInvitation(g.id))).toBe(ErrorCode.NotFound);
    });

    test("declining removes the invitation and joins nothing; contacts may still add directly", async () => {
      const admin = await h.client("gd-admin");
      const bob = await h.client("gd-bob");
      await bob.setPrivacy({ groupAdd: "contacts" });
      const g = await admin.createGroup("club", ["gd-bob"]);
      expect(g.invited).toEqual(["gd-bob"]);
      expect(g.members.map((m) => m.user)).toEqual(["gd-admin"]);
      await bob.declineInvitation(g.id);
      expect(await bob.invitations()).toEqual([]);
      expect(await codeOf(bob.declineInvitation(g.id))).toBe(ErrorCode.NotFound);
      expect((await admin.conversation(g.id)).members.map((m) => m.user)).toEqual(["gd-admin"]);

      await bob.addContacts(["gd-admin"]);
      const added = await admin.addMembers(g.id, ["gd-bob"]);
      expect(added.invited).toEqual([]);
      expect(added.seq).toBeGreaterThan(0);
      expect((await admin.conversation(g.id)).members.map((m) => m.user).sort()).toEqual(["gd-admin", "gd-bob"]);
    });

    test("groupAdd: nobody invites even contacts; everyone lets anyone add", async () => {
      const admin = await h.client("gn-admin");
      const bob = await h.client("gn-bob");
      const carol = await h.client("gn-carol");
      await bob.setPrivacy({ groupAdd: "nobody" });
      await bob.addContacts(["gn-admin"]);
      const g = await admin.createGroup("x", []);
      expect(await admin.addMembers(g.id, ["gn-bob", "gn-carol"])).toMatchObject({ invited: ["gn-bob"] });
      expect((await admin.conversation(g.id)).members.map((m) => m.user).sort()).toEqual(["gn-admin", "gn-carol"]);
      void carol;
      // Only admins invite.
      expect(await codeOf(carol.addMembers(g.id, ["gn-bob"]))).toBe(ErrorCode.Forbidden);
    });
  });

  describe("invite links", () => {
    test("an admin's link lets anyone join until it is revoked; non-admins cannot make one", async () => {
      const admin = await h.client("il-admin");
      const member = await h.client("il-member");
      const joiner = await h.client("il-joiner");
      const late = await h.client("il-late");
      const g = await admin.createGroup("open", ["il-member"]);
      expect(await codeOf(member.createInviteLink(g.id))).toBe(ErrorCode.Forbidden);
      const link = await admin.createInviteLink(g.id);
      expect(link).toMatchObject({ conv: g.id, by: "il-admin", approval: false });
      expect((await admin.inviteLinks(g.id)).map((l) => l.token)).toEqual([link.token]);

      const r = await joiner.joinByLink(link.token);
      expect(r).toMatchObject({ conv: g.id, pending: false });
      const [m] = (await joiner.history(g.id)).messages;
      expect(system(m!.body)).toMatchObject({ op: SystemOp.Joined, by: "il-joiner" });
      expect(await codeOf(joiner.joinByLink(link.token))).toBe(ErrorCode.Conflict);

      await admin.revokeInviteLink(g.id, link.token);
      expect(await admin.inviteLinks(g.id)).toEqual([]);
      expect(await codeOf(late.joinByLink(link.token))).toBe(ErrorCode.NotFound);
      expect(await codeOf(admin.revokeInviteLink(g.id, link.token))).toBe(ErrorCode.NotFound);
      expect(await codeOf(late.joinByLink("x".repeat(24)))).toBe(ErrorCode.NotFound);
    });

    test("with approval, a join waits for an admin, who approves or declines", async () => {
      const admin = await h.client("ia-admin");
      const bob = await h.client("ia-bob");
      const carol = await h.client("ia-carol");
      const g = await admin.createGroup("vetted", []);
      const link = await admin.createInviteLink(g.id, true);

      const asked = nextEvent(admin, "joinRequest", (r) => !r.removed && r.request.user === "ia-bob");
      expect(await bob.joinByLink(link.token)).toEqual({ conv: g.id, pending: true, seq: 0 });
      await asked;
      await carol.joinByLink(link.token);
      expect((await admin.joinRequests(g.id)).map((r) => r.user)).toEqual(["ia-bob", "ia-carol"]);
      expect(await codeOf(bob.history(g.id))).toBe(ErrorCode.Forbidden);
      expect(await codeOf(bob.joinRequests(g.id))).toBe(ErrorCode.Forbidden);

      const joined = nextEvent(bob, "conversation", (c) => c.conv.id === g.id && !c.removed);
      const { seq } = await admin.answerJoinRequest(g.id, "ia-bob", true);
      expect(seq).toBeGreaterThan(0);
      await joined;
      expect(await admin.answerJoinRequest(g.id, "ia-carol", false)).toEqual({ seq: 0 });
      expect(await admin.joinRequests(g.id)).toEqual([]);
      expect((await admin.conversation(g.id)).members.map((m) => m.user).sort()).toEqual(["ia-admin", "ia-bob"]);
      expect(await codeOf(admin.answerJoinRequest(g.id, "ia-carol", true))).toBe(ErrorCode.NotFound);
    });
  });

  describe("read receipts", () => {
    test("off on either side hides read markers both ways in a direct conversation; delivered still shows", async () => {
      const alice = await h.client("rr-alice");
      const bob = await h.client("rr-bob", "rr-bob-phone", { autoAck: false });
      const conv = await talk(alice, bob);
      await bob.setPrivacy({ readReceipts: false });

      const receipts: { user: string; delivered: number; read: number; allRead: number }[] = [];
      alice.on("receipt", (r) => receipts.push(r));
      // Bob marks what his device holds, as a client does: a node caps a marker at the newest
      // message it has heard of, and in the cluster Alice's message reaches Bob's node on the bus.
      const arrived = nextEvent(bob, "message", (m) => text(m) === "are you there?");
      const { seq } = await alice.send(conv, "are you there?");
      await arrived;
      const delivered = nextEvent(alice, "receipt", (r) => r.user === "rr-bob" && r.delivered >= seq);
      await bob.markDelivered(conv, seq);
      expect(await delivered).toMatchObject({ delivered: seq, read: 0, allRead: 0 });
      await bob.markRead(conv, seq);
      // Bob's next message travels on the same conversation subject after his read receipt, so a
      // receipt telling Alice he read would have arrived before it. Alice's client acks it
      // (delivered); Bob hears that, with her read marker hidden in return.
      const after = nextEvent(alice, "message", (m) => text(m) === "yes");
      const aliceDelivered = nextEvent(bob, "receipt", (r) => r.user === "rr-alice");
      const yes = await bob.send(conv, "yes");
      await after;
      expect(receipts.filter((r) => r.user === "rr-bob")).toHaveLength(1);
      expect(receipts.every((r) => r.allRead === 0)).toBe(true);
      expect((await alice.conversation(conv)).members.find((m) => m.user === "rr-bob")!.read).toBe(0);
      // Bob sees his own read marker; and, reciprocally, not Alice's.
      expect((await bob.conversation(conv)).members.find((m) => m.user === "rr-bob")!.read).toBe(seq);
      expect(await aliceDelivered).toMatchObject({ delivered: yes.seq, read: 0, allRead: 0 });
      const bobHeard: number[] = [];
      bob.on("receipt", (r) => r.user === "rr-alice" && bobHeard.push(r.read));
      await alice.markRead(conv, yes.seq);
      const next = nextEvent(bob, "message", (m) => text(m) === "ok");
      await alice.send(conv, "ok");
      await next;
      expect(bobHeard).toEqual([]);
      expect((await bob.conversation(conv)).members.find((m) => m.user === "rr-alice")!.read).toBe(0);

      // Both on: read markers show again.
      await bob.setPrivacy({ readReceipts: true });
      const readThis = nextEvent(bob, "message", (m) => text(m) === "read this");
      const { seq: s2 } = await alice.send(conv, "read this");
      await readThis;
      const read = nextEvent(alice, "receipt", (r) => r.user === "rr-bob" && r.read >= s2);
      await bob.markRead(conv, s2);
      expect(await read).toMatchObject({ read: s2, allRead: s2 });
    });
  });

  describe("reports", () => {
    test("a member reports a message with their own copies; a user report names the user", async () => {
      const alice = await h.client("rp-alice");
      const mallory = await h.client("rp-mallory");
      const outsider = await h.client("rp-outsider");
      const conv = await talk(alice, mallory);
      const sent = await mallory.send(conv, "abuse");
      const copy = { conv, seq: sent.seq, from: "rp-mallory", ts: sent.ts, kind: MessageKind.Text, body: new TextEncoder().encode("abuse") };
      const id = await alice.report({ conv, seq: sent.seq, reason: "threats", messages: [copy] });
      const r = await (await h.stores()).safety.getReport(id);
      expect(r).toMatchObject({ reporter: "rp-alice", user: "rp-mallory", conv, seq: sent.seq, reason: "threats" });
      expect(new TextDecoder().decode(r!.messages[0]!.body)).toBe("abuse");
      expect(await alice.report({ user: "rp-mallory", reason: "spam" })).toBeGreaterThan(id);

      expect(await codeOf(outsider.report({ conv, seq: sent.seq, reason: "x" }))).toBe(ErrorCode.Forbidden);
      expect(await codeOf(alice.report({ conv, seq: sent.seq + 100, reason: "x" }))).toBe(ErrorCode.NotFound);
      expect(await codeOf(alice.report({ reason: "x" }))).toBe(ErrorCode.InvalidParams);
      expect(await codeOf(alice.report({ user: "rp-mallory", conv, seq: 1, reason: "x" }))).toBe(ErrorCode.InvalidParams);
      expect(await codeOf(alice.report({ conv, reason: "x" }))).toBe(ErrorCode.InvalidParams);
      expect(await codeOf(alice.report({ user: "rp-mallory", reason: "" }))).toBe(ErrorCode.InvalidParams);
    });
  });

  describe("the user registry", () => {
    let strict: Harness;
    beforeAll(async () => {
      strict = await startHarness({ users: { requireRegistered: true } }, { topology });
    }, HARNESS_START_MS);
    afterAll(() => strict.stop());

    test("with users.requireRegistered, commands naming unknown users are refused; first authentication registers", async () => {
      const alice = await strict.client("ur-alice");
      expect(await codeOf(alice.openDirect("ur-ghost"))).toBe(ErrorCode.NotFound);
      expect(await codeOf(alice.createGroup("g", ["ur-ghost"]))).toBe(ErrorCode.NotFound);
      expect(await codeOf(alice.block("ur-ghost"))).toBe(ErrorCode.NotFound);
      expect(await codeOf(alice.addContacts(["ur-ghost"]))).toBe(ErrorCode.NotFound);
      expect(await codeOf(alice.report({ user: "ur-ghost", reason: "x" }))).toBe(ErrorCode.NotFound);
      const g = await alice.createGroup("g", []);
      expect(await codeOf(alice.addMembers(g.id, ["ur-ghost"]))).toBe(ErrorCode.NotFound);
      // Nothing was created for the ghost.
      expect(await (await strict.stores()).safety.getUser("ur-ghost")).toBeNull();

      const ghost = await strict.client("ur-ghost");
      expect((await alice.openDirect("ur-ghost")).members).toHaveLength(2);
      void ghost;
    });
  });
});
