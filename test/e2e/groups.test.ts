import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { decodeSystemEvent, ErrorCode, MessageKind, ProtocolError, SystemOp, type ReceiptPush, type SystemEvent } from "../../src/sdk/index.ts";
import { collect, nextEvent, HARNESS_START_MS, startHarness, text, until, type Harness } from "../helpers/harness.ts";
import { forEachTopology } from "../helpers/topology.ts";

forEachTopology((topology) => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ limits: { maxGroupSize: 6 } }, { topology });
  }, HARNESS_START_MS);
  afterAll(() => h.stop());

  const codeOf = (p: Promise<unknown>) => p.then(() => 0, (e) => (e instanceof ProtocolError ? e.code : -99));

  describe("groups", () => {
    test("create, rename, add, remove, admins, with system messages in order", async () => {
      const ann = await h.client("ann");
      const ben = await h.client("ben");
      const cat = await h.client("cat");
      const atBen = collect(ben);
      const created = nextEvent(ben, "conversation", (c) => c.conv.title === "trip");
      const g = await ann.createGroup("trip", ["ben"]);
      expect(g.type).toBe(2);
      expect(g.members.find((m) => m.user === "ann")?.admin).toBe(true);
      expect((await created).conv.id).toBe(g.id);

      // Only admins rename or add.
      expect(await codeOf(ben.renameGroup(g.id, "mine"))).toBe(ErrorCode.Forbidden);
      expect(await codeOf(ben.addMembers(g.id, ["cat"]))).toBe(ErrorCode.Forbidden);
      await ann.renameGroup(g.id, "trip 2026");
      const catJoined = nextEvent(cat, "conversation", (c) => c.conv.id === g.id);
      const catFirst = nextEvent(cat, "message", (m) => m.conv === g.id);
      const { seq: addSeq } = await ann.addMembers(g.id, ["cat"]);
      await catJoined;
      // The new member's first message is the one recording the addition; earlier history is not theirs.
      const first = await catFirst;
      expect(first.seq).toBe(addSeq);
      expect(first.kind).toBe(MessageKind.System);
      expect((decodeSystemEvent(first.body) as SystemEvent).op).toBe(SystemOp.MembersAdded);

      await ann.setAdmin(g.id, "ben", true);
      await ben.send(g.id, "hi all");
      await until(() => atBen.filter((m) => m.conv === g.id).length >= 5);
      const ops = atBen
        .filter((m) => m.conv === g.id && m.kind === MessageKind.System)
        .map((m) => (decodeSystemEvent(m.body) as SystemEvent).op);
      expect(ops).toEqual([SystemOp.Created, SystemOp.Renamed, SystemOp.MembersAdded, SystemOp.AdminGranted]);
      expect(atBen.filter((m) => m.conv === g.id).map((m) => m.seq)).toEqual([1, 2, 3, 4, 5]);

      // The last admin cannot be demoted; after promoting ben, ann may leave.
      const removed = nextEvent(cat, "conversation", (c) => c.removed);
      await ben.removeMember(g.id, "cat");
      expect((await removed).conv.id).toBe(g.id);
      expect(await codeOf(cat.send(g.id, "still here?"))).toBe(ErrorCode.Forbidden);
      expect(await codeOf(cat.history(g.id))).toBe(ErrorCode.Forbidden);
      await ann.removeMember(g.id, "ann");
      expect(await codeOf(ben.setAdmin(g.id, "ben", false))).toBe(ErrorCode.Conflict);
      const info = await ben.conversation(g.id);
      expect(info.members.map((m) => m.user)).toEqual(["ben"]);
      expect(info.title).toBe("trip 2026");
    });

    test("group size limit is enforced at creation and on add", async () => {
      const owner = await h.client("owner");
      expect(await codeOf(owner.createGroup("big", ["u1", "u2", "u3", "u4", "u5", "u6"]))).toBe(ErrorCode.GroupFull);
      const g = await owner.createGroup("five", ["u1", "u2", "u3", "u4"]);
      await owner.addMembers(g.id, ["u5"]);
      expect(await codeOf(owner.addMembers(g.id, ["u6"]))).toBe(ErrorCode.GroupFull);
      expect((await owner.conversation(g.id)).members).toHaveLength(6);
    });

    test("a group message reaches every member device once, in one order, with per-member receipts", async () => {
      const users = ["p1", "p2", "p3", "p4"];
      const clients = await Promise.all(users.map((u) => h.client(u)));
      const logs = clients.map(collect);
      const g = await clients[0]!.createGroup("race", users.slice(1));
      await Promise.all(clients.map((c) => until(() => c.cursors()[g.id] !== undefined)));
      // Every member sends at once: the server picks one order and every device sees it.
      await Promise.all(clients.flatMap((c, i) => Array.from({ length: 10 }, (_, k) => c.send(g.id, `${users[i]}-${k}`))));
      const inG = (log: (typeof logs)[0]) => log.filter((m) => m.conv === g.id && m.kind === MessageKind.Text);
      await until(() => logs.every((l) => inG(l).length === 40));
      const order = inG(logs[0]!).map((m) => m.seq);
      expect(order).toEqual(Array.from({ length: 40 }, (_, i) => i + 2));
      for (const l of logs) expect(inG(l).map((m) => text(m))).toEqual(inG(logs[0]!).map((m) => text(m)));

      const readAll = nextEvent(clients[0]!, "receipt", (r) => r.allRead >= 41);
      await Promise.all(clients.slice(1).map((c) => c.markRead(g.id, 41)));
      expect((await readAll).allRead).toBe(41);
    });

    test("a member's receipt reaches the member's other devices (not the one that sent it), and a sender once it moves the sender's ticks", async () => {
      const sam = await h.client("sam");
      const mia = await h.client("mia", "mia-phone", { autoAck: false });
      const miaTablet = await h.client("mia", "mia-tablet", { autoAck: false });
      const max = await h.client("max", "max-phone", { autoAck: false });
      const g = await sam.createGroup("ticks", ["mia", "max"]);
      await Promise.all([mia, miaTablet, max].map((c) => until(() => c.cursors()[g.id] !== undefined)));
      // Each marks what its device holds, as a client does (a node caps a marker at the newest
      // message it has heard of; in the cluster Sam's message reaches the others' nodes on the bus).
      const held = [mia, max].map((c) => nextEvent(c, "message", (m) => m.conv === g.id && text(m) === "hello"));
      const { seq } = await sam.send(g.id, "hello");
      await Promise.all(held);
      const atSam: ReceiptPush[] = [];
      sam.on("receipt", (r) => void atSam.push(r));
      const atMiaPhone: ReceiptPush[] = [];
      mia.on("receipt", (r) => void atMiaPhone.push(r));

      // Mia has it and Max has not: Sam's "delivered to all" has not moved. Mia's tablet hears.
      const onTablet = nextEvent(miaTablet, "receipt", (r) => r.user === "mia" && r.delivered >= seq);
      await mia.markDelivered(g.id, seq);
      await onTablet;
      // Max has it too: Sam's message is delivered to everyone, and Sam hears so.
      const all = nextEvent(sam, "receipt", (r) => r.allDelivered >= seq);
      await max.markDelivered(g.id, seq);
      expect((await all).allDelivered).toBe(seq);
      if (topology === "embedded") {
        // One actor announced both, in order: Mia's would have reached Sam first. (Across two
        // edges the two receipts may race, and the correction that follows goes to Sam.)
        expect((await all).user).toBe("max");
        expect(atSam.filter((r) => r.user === "mia")).toEqual([]);
        // Nor is Mia's receipt echoed to the phone that sent it: on one node the relay is written
        // before the RECEIPT's reply, which markDelivered awaited.
        expect(atMiaPhone.filter((r) => r.user === "mia")).toEqual([]);
      }
      // Every member's own markers are there on request.
      expect((await sam.conversation(g.id)).members.find((m) => m.user === "mia")).toMatchObject({ delivered: seq });
    });
  });
});
