// Behaviour every SafetyStore backend must show (src/storage/safety-types.ts). Each backend's test
// file calls safetyStoreContract() with a factory that opens a fresh, empty backend: the safety
// store and the metadata store of the same database (consent questions join its members).

import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { DEFAULT_PRIVACY, ListFullError, type SafetyStore } from "../../src/storage/safety-types.ts";
import type { MetadataStore } from "../../src/storage/types.ts";

export type OpenSafetyStore = () => Promise<{ safety: SafetyStore; metadata: MetadataStore; close: () => Promise<void> }>;

const T = 1_700_000_000_000;
const GROUP = 2;
const DIRECT = 1;

export function safetyStoreContract(name: string, open: OpenSafetyStore): void {
  describe(name, () => {
    let store: SafetyStore;
    let metadata: MetadataStore;
    let close: () => Promise<void>;

    beforeEach(async () => {
      ({ safety: store, metadata, close } = await open());
    });
    afterEach(async () => {
      await close();
    });

    async function group(id: string, users: string[], type = GROUP): Promise<void> {
      await metadata.createConversation(
        { id, type, title: id, createdBy: users[0]!, createdAt: T },
        users.map((user) => ({ user, admin: false, joinedSeq: 1, delivered: 0, read: 0 })),
      );
    }

    describe("users", () => {
      test("admitUser registers a user once and returns the same record afterwards", async () => {
        const first = await store.admitUser("alice", "login", T);
        expect(first).toEqual({ user: { id: "alice", createdAt: T, origin: "login", bannedAt: null, banReason: null }, created: true });
        const again = await store.admitUser("alice", "admin", T + 5);
        expect(again).toEqual({ user: first.user, created: false });
        expect(await store.getUser("alice")).toEqual(first.user);
        expect(await store.getUser("nobody")).toBeNull();
      });

      test("concurrent first admissions register the user once", async () => {
        const all = await Promise.all(Array.from({ length: 8 }, (_, i) => store.admitUser("racer", "login", T + i)));
        expect(all.filter((r) => r.created)).toHaveLength(1);
        expect(new Set(all.map((r) => r.user.createdAt)).size).toBe(1);
      });

      test("knownUsers tells which ids are registered", async () => {
        await store.admitUser("a", "admin", T);
        await store.admitUser("b", "login", T);
        expect(await store.knownUsers(["a", "b", "c", "a"])).toEqual(new Set(["a", "b"]));
        expect(await store.knownUsers([])).toEqual(new Set());
      });

      test("searchUsers matches a substring case-insensitively, pages by id, and treats wildcards literally", async () => {
        for (const id of ["alice", "Alina", "bob", "carol_x", "carolyx", "dave%"]) await store.admitUser(id, "login", T);
        expect((await store.searchUsers("ali", "", 10)).map((u) => u.id)).toEqual(["Alina", "alice"]);
        expect((await store.searchUsers("", "", 2)).map((u) => u.id)).toEqual(["Alina", "alice"]);
        expect((await store.searchUsers("", "alice", 2)).map((u) => u.id)).toEqual(["bob", "carol_x"]);
        expect((await store.searchUsers("l_", "", 10)).map((u) => u.id)).toEqual(["carol_x"]);
        expect((await store.searchUsers("%", "", 10)).map((u) => u.id)).toEqual(["dave%"]);
      });

      test("setBan bans and unbans a known user and refuses an unknown one", async () => {
        await store.admitUser("eve", "login", T);
        expect(await store.setBan("eve", { at: T + 1, reason: "spam" })).toMatchObject({ id: "eve", bannedAt: T + 1, banReason: "spam" });
        expect(await store.getUser("eve")).toMatchObject({ bannedAt: T + 1, banReason: "spam" });
        expect(await store.setBan("eve", null)).toMatchObject({ bannedAt: null, banReason: null });
        expect(await store.setBan("ghost", { at: T, reason: "x" })).toBeNull();
      });
    });

    describe("privacy, contacts, blocks", () => {
      test("privacy settings default until set, and are replaced whole", async () => {
        expect(await store.getPrivacy(["alice"])).toEqual(new Map([["alice", { ...DEFAULT_PRIVACY }]]));
        const custom = { lastSeen: "contacts", online: "nobody", groupAdd: "contacts", readReceipts: false } as const;
        await store.setPrivacy("alice", custom);
        expect(await store.getPrivacy(["alice", "bob"])).toEqual(
          new Map([
            ["alice", custom],
            ["bob", { ...DEFAULT_PRIVACY }],
          ]),
        );
        await store.setPrivacy("alice", { ...DEFAULT_PRIVACY, online: "contacts" });
        expect((await store.getPrivacy(["alice"])).get("alice")).toEqual({ ...DEFAULT_PRIVACY, online: "contacts" });
        expect(await store.getPrivacy([])).toEqual(new Map());
      });

      test("contacts are a set per owner, bounded by max with nothing written when over", async () => {
        await store.addContacts("alice", ["carol", "bob", "bob"], T, 3);
        expect(await store.listContacts("alice")).toEqual(["bob", "carol"]);
        // Already listed ones do not count twice.
        await store.addContacts("alice", ["bob", "dave"], T, 3);
        expect(await store.listContacts("alice")).toEqual(["bob", "carol", "dave"]);
        await expect(store.addContacts("alice", ["erin", "bob"], T, 3)).rejects.toBeInstanceOf(ListFullError);
        expect(await store.listContacts("alice")).toEqual(["bob", "carol", "dave"]);
        await store.removeContacts("alice", ["carol", "zed"]);
        expect(await store.listContacts("alice")).toEqual(["bob", "dave"]);
        expect(await store.listContacts("bob")).toEqual([]);
        await store.addContacts("carol", ["bob"], T, 3);
        expect(await store.contactsAmong(["alice", "carol", "dave"], "bob")).toEqual(new Set(["alice", "carol"]));
        expect(await store.contactsAmong(["alice"], "carol")).toEqual(new Set());
      });

      test("blocks are one-directional, idempotent and bounded", async () => {
        expect(await store.block("alice", "mallory", T, 2)).toBe(true);
        expect(await store.block("alice", "mallory", T, 2)).toBe(false);
        expect(await store.block("alice", "eve", T, 2)).toBe(true);
        await expect(store.block("alice", "trent", T, 2)).rejects.toBeInstanceOf(ListFullError);
        expect(await store.listBlocked("alice")).toEqual(["eve", "mallory"]);
        expect(await store.listBlocked("mallory")).toEqual([]);
        expect(await store.unblock("alice", "eve")).toBe(true);
        expect(await store.unblock("alice", "eve")).toBe(false);
        expect(await store.listBlocked("alice")).toEqual(["mallory"]);
        await store.block("bob", "mallory", T, 2);
        expect(await store.blockersAmong(["alice", "bob", "carol"], "mallory")).toEqual(new Set(["alice", "bob"]));
        expect(await store.blockersAmong(["alice", "bob"], "eve")).toEqual(new Set());
      });

      test("concurrent additions never pass a list's limit together", async () => {
        const results = await Promise.allSettled(Array.from({ length: 6 }, (_, i) => store.addContacts("zoe", [`c${i}a`, `c${i}b`], T, 5)));
        expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(2);
        expect((await store.listContacts("zoe")).length).toBe(4);
        const blocked = await Promise.allSettled(Array.from({ length: 6 }, (_, i) => store.block("zoe", `b${i}`, T, 3)));
        expect(blocked.filter((r) => r.status === "fulfilled")).toHaveLength(3);
        expect(await store.listBlocked("zoe")).toHaveLength(3);
      });
    });

    describe("consent", () => {
      test("sharedByChoice counts only conversations the chooser is in by choice", async () => {
        await group("g1", ["alice", "bob", "carol"]);
        await group("d1", ["alice", "dave"], DIRECT);
        // Nobody chose anything yet: being put into a conversation reveals nothing.
        expect(await store.sharedByChoice("alice", ["bob", "carol", "dave"], "user")).toEqual(new Set());
        expect(await store.sharedByChoice("alice", ["bob", "carol", "dave"], "other")).toEqual(new Set());

        expect(await store.recordConsent("g1", "alice", T)).toBe(true);
        expect(await store.recordConsent("g1", "alice", T + 1)).toBe(false); // again: nothing changes
        await store.recordConsent("d1", "dave", T);
        expect(await store.sharedByChoice("alice", ["bob", "carol", "dave", "erin"], "user")).toEqual(new Set(["bob", "carol"]));
        expect(await store.sharedByChoice("alice", ["bob", "carol", "dave"], "other")).toEqual(new Set(["dave"]));
        expect(await store.sharedByChoice("bob", ["alice", "carol"], "other")).toEqual(new Set(["alice"]));
        expect(await store.sharedByChoice("bob", ["alice", "carol"], "user")).toEqual(new Set());

        await store.forgetConsent("g1", "alice");
        expect(await store.sharedByChoice("alice", ["bob"], "user")).toEqual(new Set());
        // A member who left no longer shares the conversation, whatever they chose.
        await store.recordConsent("g1", "bob", T);
        await metadata.removeMember("g1", "carol");
        expect(await store.sharedByChoice("carol", ["bob"], "other")).toEqual(new Set());
        expect(await store.sharedByChoice("alice", ["bob", "carol"], "other")).toEqual(new Set(["bob"]));
      });
    });

    describe("invitations, links, join requests", () => {
      test("an invitation is recorded once, listed for its user, and taken by one caller", async () => {
        await group("g1", ["alice"]);
        await group("g2", ["carol"]);
        expect(await store.invite({ conv: "g1", user: "bob", by: "alice", at: T })).toBe(true);
        expect(await store.invite({ conv: "g1", user: "bob", by: "dave", at: T + 9 })).toBe(false);
        expect(await store.invite({ conv: "g2", user: "bob", by: "carol", at: T + 1 })).toBe(true);
        expect(await store.listInvitations("bob")).toEqual([
          { conv: "g1", user: "bob", by: "alice", at: T },
          { conv: "g2", user: "bob", by: "carol", at: T + 1 },
        ]);
        const taken = await Promise.all([store.takeInvitation("g1", "bob"), store.takeInvitation("g1", "bob")]);
        expect(taken.filter(Boolean)).toEqual([{ conv: "g1", user: "bob", by: "alice", at: T }]);
        expect(await store.takeInvitation("g1", "bob")).toBeNull();
        expect((await store.listInvitations("bob")).map((i) => i.conv)).toEqual(["g2"]);
      });

      test("links are listed per conversation, revoked once, and kept after revocation", async () => {
        await group("g1", ["alice"]);
        const link = { token: "t".repeat(24), conv: "g1", by: "alice", at: T, approval: true, revokedAt: null };
        await store.createLink(link);
        await store.createLink({ ...link, token: "u".repeat(24), approval: false, at: T + 1 });
        expect(await store.getLink(link.token)).toEqual(link);
        expect(await store.getLink("v".repeat(24))).toBeNull();
        expect((await store.listLinks("g1")).map((l) => l.token)).toEqual([link.token, "u".repeat(24)]);
        expect(await store.revokeLink("g2", link.token, T + 5)).toBe(false); // not that conversation's link
        expect(await store.revokeLink("g1", link.token, T + 5)).toBe(true);
        expect(await store.revokeLink("g1", link.token, T + 6)).toBe(false);
        expect(await store.getLink(link.token)).toEqual({ ...link, revokedAt: T + 5 });
      });

      test("a join request is recorded once and taken by one caller", async () => {
        await group("g1", ["alice"]);
        const req = { conv: "g1", user: "bob", token: "t".repeat(24), at: T };
        expect(await store.requestJoin(req)).toBe(true);
        expect(await store.requestJoin({ ...req, at: T + 1 })).toBe(false);
        expect(await store.requestJoin({ ...req, user: "carol", at: T + 2 })).toBe(true);
        expect((await store.listJoinRequests("g1")).map((r) => r.user)).toEqual(["bob", "carol"]);
        expect(await store.takeJoinRequest("g1", "bob")).toEqual(req);
        expect(await store.takeJoinRequest("g1", "bob")).toBeNull();
        expect((await store.listJoinRequests("g1")).map((r) => r.user)).toEqual(["carol"]);
      });
    });

    describe("reports, audit, removed messages", () => {
      test("reports keep the reporter's copies byte for byte and list newest first", async () => {
        const body = new Uint8Array([0, 1, 2, 255, 128]);
        const id1 = await store.createReport({
          reporter: "alice",
          user: "mallory",
          conv: "c1",
          seq: 7,
          reason: "abuse",
          messages: [{ conv: "c1", seq: 7, from: "mallory", ts: T, kind: 1, body }],
          at: T,
        });
        const id2 = await store.createReport({ reporter: "bob", user: "mallory", conv: null, seq: null, reason: "spam", messages: [], at: T + 1 });
        expect(id2).toBeGreaterThan(id1);
        const r1 = await store.getReport(id1);
        expect(r1).toMatchObject({ id: id1, reporter: "alice", user: "mallory", conv: "c1", seq: 7, reason: "abuse", at: T });
        expect(Array.from(r1!.messages[0]!.body)).toEqual(Array.from(body));
        expect(await store.getReport(id2 + 100)).toBeNull();
        expect((await store.listReports(0, 10)).map((r) => r.id)).toEqual([id2, id1]);
        expect((await store.listReports(id2, 10)).map((r) => r.id)).toEqual([id1]);
        expect((await store.listReports(0, 1)).map((r) => r.id)).toEqual([id2]);
      });

      test("audit entries keep their details and list newest first", async () => {
        const e = { at: T, admin: "root", device: "cli", action: "users.ban", target: "eve", status: 200, details: { reason: "spam", n: 2 } };
        const a = await store.appendAudit(e);
        const b = await store.appendAudit({ ...e, action: "users.unban", details: {} });
        expect((await store.listAudit(0, 10)).map((x) => [x.id, x.action])).toEqual([
          [b, "users.unban"],
          [a, "users.ban"],
        ]);
        expect((await store.listAudit(b, 10))[0]).toEqual({ id: a, ...e });
      });

      test("a message is removed once; removals are listed per conversation", async () => {
        const r = { conv: "c1", seq: 4, sender: "mallory", media: "m" + "a".repeat(32), by: "root", reason: "abuse", at: T };
        expect(await store.removeMessage(r)).toBe(true);
        expect(await store.removeMessage({ ...r, reason: "again" })).toBe(false);
        await store.removeMessage({ ...r, seq: 2, media: null });
        await store.removeMessage({ ...r, conv: "c2", seq: 1, media: null });
        expect(await store.removedIn("c1")).toEqual([{ ...r, seq: 2, media: null }, r]);
        expect(await store.removedIn("c3")).toEqual([]);
        expect((await store.conversationsWithRemovals()).sort()).toEqual(["c1", "c2"]);
      });
    });
  });
}
