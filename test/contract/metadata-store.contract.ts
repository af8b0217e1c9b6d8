// Behaviour every MetadataStore backend must show. Each backend's test file calls
// metadataStoreContract() with a factory that opens a fresh, empty store.

import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { DAY_MS } from "../../src/storage/upload-quota.ts";
import { MembershipError, UploadQuotaError } from "../../src/storage/types.ts";
import { DEFAULT_CHAT_SETTINGS } from "../../src/storage/types.ts";
import type {
  ChatSettingsRecord,
  ConversationRecord,
  MediaRecord,
  MemberRecord,
  MetadataStore,
  PushSubscriptionRecord,
  UploadQuota,
} from "../../src/storage/types.ts";

export type OpenMetadataStore = () => Promise<{ store: MetadataStore; close: () => Promise<void> }>;

const GROUP = 2;
const DIRECT = 1;

function conversation(id: string, type = GROUP): ConversationRecord {
  return { id, type, title: `title of ${id}`, createdBy: "alice", createdAt: 1_700_000_000_000 };
}

function member(user: string, fields: Partial<MemberRecord> = {}): MemberRecord {
  return { user, admin: false, joinedSeq: 1, delivered: 0, read: 0, ...fields };
}

function mediaRecord(id: string, fields: Partial<MediaRecord> = {}): MediaRecord {
  return {
    id,
    owner: "alice",
    contentType: "image/jpeg",
    // Above 2^31: sizes are 64-bit.
    size: 3_000_000_000,
    sha256: "a".repeat(64),
    createdAt: 1_700_000_000_000,
    expiresAt: null,
    conv: null,
    objectKey: null,
    thumb: null,
    ...fields,
  };
}

/** An hour into a UTC day, so that a day's quota and its reset are both in view. */
const NOW = 19_700 * DAY_MS + 3_600_000;

/** An upload slot of alice's issued at NOW, ending `ttl` ms later. */
function slot(id: string, ttl: number, fields: Partial<MediaRecord> = {}): MediaRecord {
  return mediaRecord(id, { size: 100, createdAt: NOW, expiresAt: NOW + ttl, ...fields });
}

/** The refusal a rejected reservation carries, "ok" for one that passed. */
const quotaRefusal = (r: PromiseSettledResult<unknown>) =>
  r.status === "fulfilled" ? "ok" : r.reason instanceof UploadQuotaError ? r.reason.reason : String(r.reason);

function subscription(endpoint: string, fields: Partial<PushSubscriptionRecord> = {}): PushSubscriptionRecord {
  return {
    user: "alice",
    device: "phone",
    endpoint: `https://push.example/${endpoint}`,
    p256dh: `p256dh-${endpoint}`,
    auth: `auth-${endpoint}`,
    createdAt: 1_700_000_000_000,
    ...fields,
  };
}

const byUser = <T extends { user: string }>(rows: T[]) => [...rows].sort((a, b) => a.user.localeCompare(b.user));

export function metadataStoreContract(name: string, open: OpenMetadataStore): void {
  describe(name, () => {
    let store: MetadataStore;
    let close: () => Promise<void>;

    beforeEach(async () => {
      ({ store, close } = await open());
    });
    afterEach(async () => {
      await close();
    });

    test("devices are recorded on touch, listed, and revoked for good", async () => {
      expect(await store.touchDevice("alice", "phone", 1000, 16)).toBe("new");
      expect(await store.touchDevice("alice", "laptop", 2000, 16)).toBe("new");
      expect(await store.touchDevice("alice", "phone", 3000, 16)).toBe("known");
      await store.touchDevice("bob", "phone", 1000, 16);

      const listed = (await store.listDevices("alice")).sort((a, b) => a.device.localeCompare(b.device));
      expect(listed).toEqual([
        { user: "alice", device: "laptop", firstSeen: 2000, lastSeen: 2000, revoked: false },
        { user: "alice", device: "phone", firstSeen: 1000, lastSeen: 3000, revoked: false },
      ]);
      expect(await store.listDevices("nobody")).toEqual([]);

      expect(await store.revokeDevice("alice", "phone", 4000)).toBe(true);
      expect(await store.revokeDevice("alice", "unknown", 4000)).toBe(false);
      expect(await store.isDeviceRevoked("alice", "phone")).toBe(true);
      expect(await store.isDeviceRevoked("alice", "laptop")).toBe(false);
      expect(await store.isDeviceRevoked("bob", "phone")).toBe(false);
      expect(await store.isDeviceRevoked("alice", "unknown")).toBe(false);

      expect(await store.touchDevice("alice", "phone", 5000, 16)).toBe("revoked");
      expect(await store.isDeviceRevoked("alice", "phone")).toBe(true);
      const phone = (await store.listDevices("alice")).find((d) => d.device === "phone");
      expect(phone?.revoked).toBe(true);
    });

    test("a user's devices are capped: a new one beyond the cap is refused and not recorded; revoked ones do not count", async () => {
      expect(await store.touchDevice("carol", "d1", 1000, 2)).toBe("new");
      expect(await store.touchDevice("carol", "d2", 1000, 2)).toBe("new");
      expect(await store.touchDevice("carol", "d3", 1000, 2)).toBe("too-many");
      expect((await store.listDevices("carol")).map((d) => d.device).sort()).toEqual(["d1", "d2"]);
      // Known devices still connect at the cap.
      expect(await store.touchDevice("carol", "d1", 2000, 2)).toBe("known");
      await store.revokeDevice("carol", "d1", 3000);
      expect(await store.touchDevice("carol", "d3", 4000, 2)).toBe("new");
      expect(await store.touchDevice("carol", "d4", 4000, 2)).toBe("too-many");
    });

    test("concurrent first connections of one user never pass the device cap", async () => {
      const results = await Promise.all(Array.from({ length: 12 }, (_, i) => store.touchDevice("dave", `d${i}`, 1000, 5)));
      expect(results.filter((r) => r === "new")).toHaveLength(5);
      expect(results.filter((r) => r === "too-many")).toHaveLength(7);
      expect(await store.listDevices("dave")).toHaveLength(5);
    });

    test("a conversation is created with its members", async () => {
      const conv = conversation("g1");
      await store.createConversation(conv, [member("alice", { admin: true }), member("bob", { joinedSeq: 1 })]);
      expect(await store.getConversation("g1")).toEqual(conv);
      expect(await store.getConversation("unknown")).toBeNull();
      expect(byUser(await store.listMembers("g1"))).toEqual([member("alice", { admin: true }), member("bob")]);
      expect(await store.listMembers("unknown")).toEqual([]);
    });

    test("openDirect creates one conversation per pair, whatever the order", async () => {
      const first = await store.openDirect(conversation("d1", DIRECT), "alice", "bob");
      expect(first).toEqual({ id: "d1", created: true });
      expect(await store.openDirect(conversation("d2", DIRECT), "bob", "alice")).toEqual({ id: "d1", created: false });
      expect(await store.getConversation("d2")).toBeNull();
      expect(await store.getConversation("d1")).toEqual(conversation("d1", DIRECT));
      expect(byUser(await store.listMembers("d1"))).toEqual([member("alice"), member("bob")]);
      expect((await store.openDirect(conversation("d3", DIRECT), "alice", "carol")).created).toBe(true);
    });

    test("20 concurrent openDirect calls agree on one conversation", async () => {
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          i % 2 === 0
            ? store.openDirect(conversation(`d${i}`, DIRECT), "alice", "bob")
            : store.openDirect(conversation(`d${i}`, DIRECT), "bob", "alice"),
        ),
      );
      expect(new Set(results.map((r) => r.id)).size).toBe(1);
      expect(results.filter((r) => r.created)).toHaveLength(1);
      expect(await store.listUserConversations("alice")).toHaveLength(1);
    });

    test("conversations can be renamed", async () => {
      await store.createConversation(conversation("g1"), [member("alice")]);
      await store.renameConversation("g1", "new title");
      expect((await store.getConversation("g1"))?.title).toBe("new title");
    });

    test("members are added (ignoring present ones), removed and made admin", async () => {
      await store.createConversation(conversation("g1"), [member("alice", { admin: true })]);
      expect(await store.addMembers("g1", [member("bob", { joinedSeq: 4 }), member("alice", { joinedSeq: 4 })], 10)).toEqual(["bob"]);
      expect(byUser(await store.listMembers("g1"))).toEqual([member("alice", { admin: true }), member("bob", { joinedSeq: 4 })]);

      await store.setAdmin("g1", "bob", true);
      await store.setAdmin("g1", "alice", false);
      expect(byUser(await store.listMembers("g1")).map((m) => [m.user, m.admin])).toEqual([
        ["alice", false],
        ["bob", true],
      ]);

      await store.removeMember("g1", "alice");
      expect((await store.listMembers("g1")).map((m) => m.user)).toEqual(["bob"]);
    });

    test("membership invariants: group size, at least one admin, members only", async () => {
      await store.createConversation(conversation("g1"), [member("alice", { admin: true }), member("bob")]);
      const refusal = (p: Promise<unknown>) => p.then(() => "ok", (e) => (e instanceof MembershipError ? e.reason : String(e)));
      expect(await refusal(store.addMembers("g1", [member("carol"), member("dave")], 3))).toBe("group-full");
      expect((await store.listMembers("g1")).length).toBe(2); // nothing half-added
      expect(await store.addMembers("g1", [member("carol")], 3)).toEqual(["carol"]);
      expect(await refusal(store.setAdmin("g1", "alice", false))).toBe("last-admin");
      expect(await refusal(store.removeMember("g1", "alice"))).toBe("last-admin");
      expect(await refusal(store.removeMember("g1", "zed"))).toBe("not-member");
      expect(await refusal(store.setAdmin("g1", "zed", true))).toBe("not-member");
      await store.setAdmin("g1", "bob", true);
      await store.removeMember("g1", "alice");
      // The only member may leave even as the only admin: the group is then empty.
      await store.createConversation(conversation("g2"), [member("solo", { admin: true })]);
      await store.removeMember("g2", "solo");
      expect(await store.listMembers("g2")).toEqual([]);
    });

    test("concurrent additions never exceed the group size", async () => {
      await store.createConversation(conversation("g1"), [member("owner", { admin: true })]);
      const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => store.addMembers("g1", [member(`u${i}`)], 5)));
      expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(4);
      expect((await store.listMembers("g1")).length).toBe(5);
    });

    test("listUserConversations lists the conversations a user belongs to, with the seq they joined at", async () => {
      const byConv = (rows: { conv: string; joinedSeq: number }[]) => [...rows].sort((a, b) => a.conv.localeCompare(b.conv));
      await store.createConversation(conversation("g1"), [member("alice"), member("bob", { joinedSeq: 3 })]);
      await store.createConversation(conversation("g2"), [member("alice", { joinedSeq: 7 })]);
      await store.createConversation(conversation("g3"), [member("bob")]);
      await store.addMembers("g3", [member("alice", { joinedSeq: 12 })], 10);
      expect(byConv(await store.listUserConversations("alice"))).toEqual([
        { conv: "g1", joinedSeq: 1 },
        { conv: "g2", joinedSeq: 7 },
        { conv: "g3", joinedSeq: 12 },
      ]);
      expect(byConv(await store.listUserConversations("bob"))).toEqual([
        { conv: "g1", joinedSeq: 3 },
        { conv: "g3", joinedSeq: 1 },
      ]);
      expect(await store.listUserConversations("nobody")).toEqual([]);
      await store.removeMember("g2", "alice");
      await store.removeMember("g3", "alice");
      expect(await store.listUserConversations("alice")).toEqual([{ conv: "g1", joinedSeq: 1 }]);
    });

    test("saveCursors only ever raises delivered and read", async () => {
      await store.createConversation(conversation("g1"), [member("alice"), member("bob")]);
      await store.saveCursors([
        { conv: "g1", user: "alice", delivered: 5, read: 3 },
        { conv: "g1", user: "bob", delivered: 2, read: 2 },
      ]);
      await store.saveCursors([{ conv: "g1", user: "alice", delivered: 4, read: 6 }]);
      // Members that are not there (any more) are ignored.
      await store.saveCursors([{ conv: "g1", user: "carol", delivered: 9, read: 9 }]);
      expect(byUser(await store.listMembers("g1")).map((m) => [m.user, m.delivered, m.read])).toEqual([
        ["alice", 5, 6],
        ["bob", 2, 2],
      ]);
    });

    test("media is created and read back, unattached and without a thumbnail", async () => {
      await store.createMedia(mediaRecord("m1"));
      expect(await store.getMedia("m1")).toEqual(mediaRecord("m1"));
      const full = mediaRecord("m2", { expiresAt: NOW, conv: "g1", objectKey: "sealed/m2/x" });
      await store.createMedia(full);
      expect(await store.getMedia("m2")).toEqual(full);
      expect(await store.getMedia("unknown")).toBeNull();
    });

    test("attachMedia ties an unexpired slot once, to the first conversation its owner sends it in", async () => {
      await store.createMedia(slot("m1", 1000));
      expect(await store.attachMedia("m1", "bob", "g1", "k1", NOW)).toBe(false); // not the owner
      expect(await store.attachMedia("m1", "alice", "g1", "k1", NOW + 1000)).toBe(false); // the slot has expired
      expect((await store.getMedia("m1"))?.conv).toBeNull();
      expect(await store.attachMedia("m1", "alice", "g1", "k1", NOW + 999)).toBe(true);
      // Once attached, nothing changes it: not the same conversation again (the served object
      // stays the one first attached), not another one, not someone else.
      expect(await store.attachMedia("m1", "alice", "g1", "k2", NOW)).toBe(false);
      expect(await store.attachMedia("m1", "alice", "g2", "k2", NOW)).toBe(false);
      expect(await store.attachMedia("m1", "bob", "g1", "k2", NOW)).toBe(false);
      expect(await store.attachMedia("unknown", "alice", "g1", "k1", NOW)).toBe(false);
      expect(await store.getMedia("m1")).toEqual(slot("m1", 1000, { conv: "g1", objectKey: "k1" }));
      // Media without a slot (the server's own) is never attached by a send.
      await store.createMedia(mediaRecord("m2"));
      expect(await store.attachMedia("m2", "alice", "g1", "k1", NOW)).toBe(false);
    });

    test("10 concurrent attachMedia of one media to 10 conversations: exactly one wins, with its object", async () => {
      await store.createMedia(slot("m1", 1000));
      const results = await Promise.all(Array.from({ length: 10 }, (_, i) => store.attachMedia("m1", "alice", `g${i}`, `k${i}`, NOW)));
      expect(results.filter((won) => won)).toHaveLength(1);
      const winner = results.indexOf(true);
      expect(await store.getMedia("m1")).toMatchObject({ conv: `g${winner}`, objectKey: `k${winner}` });
    });

    test("reserveUpload refuses a slot beyond maxPending until one is sent or expires", async () => {
      const quota: UploadQuota = { maxPending: 3, maxBytesPerDay: 1_000_000 };
      await store.reserveUpload(slot("s1", 5000), quota, NOW);
      await store.reserveUpload(slot("s2", 3000), quota, NOW);
      await store.reserveUpload(slot("s3", 4000), quota, NOW);
      expect(await store.getMedia("s2")).toEqual(slot("s2", 3000));
      const refused = await store.reserveUpload(slot("s4", 6000), quota, NOW + 500).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(UploadQuotaError);
      // The first slot to free up is s2, when it expires.
      expect(refused).toMatchObject({ reason: "pending-uploads", retryAfterMs: 2500 });
      expect(await store.getMedia("s4")).toBeNull();
      // Other owners have quotas of their own.
      await store.reserveUpload(slot("b1", 1000, { owner: "bob" }), quota, NOW);
      // Sending one frees its slot.
      expect(await store.attachMedia("s2", "alice", "g1", "k", NOW + 500)).toBe(true);
      await store.reserveUpload(slot("s4", 6000), quota, NOW + 500);
      await expect(store.reserveUpload(slot("s5", 6000), quota, NOW + 500)).rejects.toMatchObject({ reason: "pending-uploads" });
      // So does expiry: at NOW + 4000, s3 is over (s1 and s4 remain).
      await store.reserveUpload(slot("s5", 6000), quota, NOW + 4000);
      await expect(store.reserveUpload(slot("s6", 6000), quota, NOW + 4000)).rejects.toMatchObject({ reason: "pending-uploads", retryAfterMs: 1000 });
    });

    test("reserveUpload counts the bytes of every slot issued on a UTC day, used or not, and resets at midnight", async () => {
      const quota: UploadQuota = { maxPending: 100, maxBytesPerDay: 1000 };
      await store.reserveUpload(slot("s1", 1000, { size: 600 }), quota, NOW);
      await store.reserveUpload(slot("s2", 1000, { size: 400 }), quota, NOW);
      const refused = await store.reserveUpload(slot("s3", 1000, { size: 1 }), quota, NOW + 10).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(UploadQuotaError);
      expect(refused).toMatchObject({ reason: "daily-bytes", retryAfterMs: DAY_MS - 3_600_000 - 10 });
      expect(await store.getMedia("s3")).toBeNull();
      // Slots that expired and were swept still count for the day.
      await store.finishExpiredUploads(["s1", "s2"], NOW + 1000);
      expect(await store.getMedia("s1")).toBeNull();
      await expect(store.reserveUpload(slot("s3", 1000, { size: 1 }), quota, NOW + 1000)).rejects.toMatchObject({ reason: "daily-bytes" });
      await store.reserveUpload(slot("b1", 1000, { owner: "bob", size: 1000 }), quota, NOW);
      // The next UTC day starts from zero.
      const tomorrow = 19_701 * DAY_MS;
      await store.reserveUpload(slot("s3", 1000, { size: 1000, createdAt: tomorrow, expiresAt: tomorrow + 1000 }), quota, tomorrow);
      await expect(store.reserveUpload(slot("s4", 1000, { size: 1 }), quota, tomorrow)).rejects.toMatchObject({ reason: "daily-bytes" });
    });

    test("concurrent reservations of one owner never pass the quota together", async () => {
      const pending = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => store.reserveUpload(slot(`p${i}`, 1000), { maxPending: 5, maxBytesPerDay: 1_000_000 }, NOW)));
      expect(pending.map(quotaRefusal).filter((r) => r === "ok")).toHaveLength(5);
      expect(pending.map(quotaRefusal).filter((r) => r !== "ok")).toEqual(Array(15).fill("pending-uploads"));
      const bytes = await Promise.allSettled(
        Array.from({ length: 20 }, (_, i) => store.reserveUpload(slot(`b${i}`, 1000, { owner: "bob" }), { maxPending: 100, maxBytesPerDay: 1000 }, NOW)),
      );
      expect(bytes.map(quotaRefusal).filter((r) => r === "ok")).toHaveLength(10);
      expect(bytes.map(quotaRefusal).filter((r) => r !== "ok")).toEqual(Array(10).fill("daily-bytes"));
    });

    test("expired slots are listed earliest first; finishing deletes the unattached and closes the attached", async () => {
      await store.createMedia(slot("a", -10)); // unattached, expired
      await store.createMedia(slot("b", 10)); // unattached, not expired
      await store.createMedia(slot("c", -5, { conv: "g1", objectKey: "k" })); // attached, expired
      await store.createMedia(mediaRecord("d", { conv: "g1", objectKey: "k" })); // no slot
      await store.createMedia(slot("e", -20)); // unattached, expired earliest
      expect((await store.listExpiredUploads(NOW, 10)).map((m) => m.id)).toEqual(["e", "a", "c"]);
      expect((await store.listExpiredUploads(NOW, 2)).map((m) => m.id)).toEqual(["e", "a"]);
      expect(await store.listExpiredUploads(NOW, 10)).toContainEqual(slot("c", -5, { conv: "g1", objectKey: "k" }));

      await store.finishExpiredUploads(["e", "a", "c", "b", "d"], NOW);
      expect(await store.getMedia("e")).toBeNull();
      expect(await store.getMedia("a")).toBeNull();
      expect(await store.getMedia("c")).toEqual(slot("c", -5, { conv: "g1", objectKey: "k", expiresAt: null }));
      expect(await store.getMedia("b")).toEqual(slot("b", 10)); // not expired: left alone
      expect(await store.getMedia("d")).toEqual(mediaRecord("d", { conv: "g1", objectKey: "k" }));
      expect(await store.listExpiredUploads(NOW, 10)).toEqual([]);
      await store.finishExpiredUploads([], NOW);
    });

    test("setMediaThumb records the thumbnail's media id", async () => {
      await store.createMedia(mediaRecord("m1"));
      await store.createMedia(mediaRecord("m1-thumb", { size: 2048 }));
      await store.setMediaThumb("m1", "m1-thumb");
      expect(await store.getMedia("m1")).toEqual(mediaRecord("m1", { thumb: "m1-thumb" }));
      expect((await store.getMedia("m1-thumb"))?.thumb).toBeNull();
      await store.setMediaThumb("unknown", "x"); // no row, no error
      expect(await store.getMedia("unknown")).toBeNull();
    });

    test("push subscriptions are saved per user, replaced by endpoint, and deleted", async () => {
      const byEndpoint = (rows: PushSubscriptionRecord[]) => [...rows].sort((a, b) => a.endpoint.localeCompare(b.endpoint));
      const a1 = subscription("a1");
      const a2 = subscription("a2", { device: "laptop", createdAt: 1_700_000_000_500 });
      const b1 = subscription("b1", { user: "bob" });
      await store.savePushSubscription(a1);
      await store.savePushSubscription(a2);
      await store.savePushSubscription(b1);
      expect(byEndpoint(await store.listPushSubscriptions("alice"))).toEqual([a1, a2]);
      expect(await store.listPushSubscriptions("bob")).toEqual([b1]);
      expect(await store.listPushSubscriptions("nobody")).toEqual([]);

      // The same endpoint again, with new keys: replaced, not added.
      const a1Rekeyed = { ...a1, p256dh: "p256dh-new", auth: "auth-new" };
      await store.savePushSubscription(a1Rekeyed);
      expect(byEndpoint(await store.listPushSubscriptions("alice"))).toEqual([a1Rekeyed, a2]);

      // The same endpoint subscribed by another user and device moves to them.
      const moved = { ...a2, user: "bob", device: "tablet", p256dh: "p256dh-bob", auth: "auth-bob" };
      await store.savePushSubscription(moved);
      expect(await store.listPushSubscriptions("alice")).toEqual([a1Rekeyed]);
      expect(byEndpoint(await store.listPushSubscriptions("bob"))).toEqual([moved, b1]);

      await store.deletePushSubscription(a1.endpoint);
      await store.deletePushSubscription("https://push.example/unknown"); // no row, no error
      expect(await store.listPushSubscriptions("alice")).toEqual([]);
      expect(byEndpoint(await store.listPushSubscriptions("bob"))).toEqual([moved, b1]);
    });

    // ---- the message lifecycle ----------------------------------------------------------------

    test("a conversation's timer is absent until set, read back once set, and absent again when turned off", async () => {
      const conv = conversation("g1");
      await store.createConversation(conv, [member("alice", { admin: true })]);
      expect(await store.getConversation("g1")).toEqual(conv);
      await store.setConversationTimer("g1", 86_400);
      expect(await store.getConversation("g1")).toEqual({ ...conv, timer: 86_400 });
      await store.setConversationTimer("g1", 0);
      expect(await store.getConversation("g1")).toEqual(conv);
    });

    test("media scheduled for deletion is listed once due, earliest first; an earlier time stays; records are deleted", async () => {
      for (const id of ["m1", "m2", "m3"]) await store.createMedia(mediaRecord(id, { conv: "g1", objectKey: `sealed/${id}` }));
      await store.scheduleMediaDeletion(["m1"], NOW + 2000);
      await store.scheduleMediaDeletion(["m2"], NOW + 1000);
      // A later time does not postpone an earlier one.
      await store.scheduleMediaDeletion(["m2"], NOW + 9000);
      expect(await store.listMediaDue(NOW + 500, 10)).toEqual([]);
      expect((await store.listMediaDue(NOW + 1500, 10)).map((m) => m.id)).toEqual(["m2"]);
      expect((await store.listMediaDue(NOW + 5000, 10)).map((m) => m.id)).toEqual(["m2", "m1"]);
      expect((await store.listMediaDue(NOW + 5000, 1)).map((m) => m.id)).toEqual(["m2"]);
      await store.deleteMediaRecords(["m2", "unknown"]);
      expect(await store.getMedia("m2")).toBeNull();
      expect(await store.getMedia("m3")).not.toBeNull();
      expect((await store.listMediaDue(NOW + 5000, 10)).map((m) => m.id)).toEqual(["m1"]);
    });

    test("chat settings: defaults until saved, saved per user and conversation, listed only for conversations the user belongs to", async () => {
      await store.createConversation(conversation("g1"), [member("alice", { admin: true }), member("bob")]);
      await store.createConversation(conversation("g2"), [member("alice", { admin: true })]);
      expect(await store.getChatSettings("alice", "g1")).toEqual({ conv: "g1", ...DEFAULT_CHAT_SETTINGS });
      expect(await store.listChatSettings("alice")).toEqual([]);
      const pinned: ChatSettingsRecord = { conv: "g1", muteUntil: 0, archived: false, pinned: true, unread: false };
      const muted: ChatSettingsRecord = { conv: "g2", muteUntil: NOW + 1000, archived: true, pinned: false, unread: true };
      await store.saveChatSettings("alice", pinned);
      await store.saveChatSettings("alice", muted);
      await store.saveChatSettings("bob", { ...pinned, unread: true });
      expect(await store.getChatSettings("alice", "g1")).toEqual(pinned);
      expect(await store.listChatSettings("alice")).toEqual([pinned, muted]);
      expect(await store.listChatSettings("bob")).toEqual([{ ...pinned, unread: true }]);
      // Saved again: replaced.
      await store.saveChatSettings("alice", { ...pinned, pinned: false, archived: true });
      expect(await store.getChatSettings("alice", "g1")).toEqual({ ...pinned, pinned: false, archived: true });
      // Not a member any more: not listed.
      await store.removeMember("g1", "bob");
      expect(await store.listChatSettings("bob")).toEqual([]);
    });

    test("mutedAmong names those whose mute lasts past now", async () => {
      await store.createConversation(conversation("g1"), [member("alice", { admin: true }), member("bob"), member("carol")]);
      const settings = (muteUntil: number): ChatSettingsRecord => ({ conv: "g1", muteUntil, archived: false, pinned: false, unread: false });
      await store.saveChatSettings("alice", settings(NOW + 1000));
      await store.saveChatSettings("bob", settings(NOW - 1));
      expect(await store.mutedAmong("g1", ["alice", "bob", "carol"], NOW)).toEqual(new Set(["alice"]));
      expect(await store.mutedAmong("g1", ["alice"], NOW + 1000)).toEqual(new Set());
      expect(await store.mutedAmong("g2", ["alice"], NOW)).toEqual(new Set());
      expect(await store.mutedAmong("g1", [], NOW)).toEqual(new Set());
    });

    test("hidden messages: recorded once per user, read by range, conversation and list", async () => {
      await store.createConversation(conversation("g1"), [member("alice", { admin: true }), member("bob")]);
      await store.createConversation(conversation("g2"), [member("alice", { admin: true })]);
      await store.hideMessages("alice", "g1", [5, 3, 9], NOW);
      await store.hideMessages("alice", "g1", [3], NOW + 1); // again: no change
      await store.hideMessages("alice", "g2", [1], NOW);
      await store.hideMessages("bob", "g1", [4], NOW);
      expect(await store.hiddenSeqs("alice", "g1", 1, 100)).toEqual([3, 5, 9]);
      expect(await store.hiddenSeqs("alice", "g1", 4, 9)).toEqual([5, 9]);
      expect(await store.hiddenSeqs("bob", "g1", 1, 100)).toEqual([4]);
      expect(await store.hiddenSeqs("carol", "g1", 1, 100)).toEqual([]);
      expect((await store.hiddenConversations("alice")).sort()).toEqual(["g1", "g2"]);
      expect(await store.hiddenConversations("carol")).toEqual([]);
      expect(await store.listHidden("alice", 10)).toEqual([
        { conv: "g1", seqs: [3, 5, 9] },
        { conv: "g2", seqs: [1] },
      ]);
      // The newest `perConv` of each.
      expect(await store.listHidden("alice", 2)).toEqual([
        { conv: "g1", seqs: [5, 9] },
        { conv: "g2", seqs: [1] },
      ]);
      await store.removeMember("g1", "bob");
      expect(await store.listHidden("bob", 10)).toEqual([]);
    });
  });
}
