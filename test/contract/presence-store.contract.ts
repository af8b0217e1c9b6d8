// Behaviour every PresenceStore backend must show. Each backend's test file calls
// presenceStoreContract() with a factory that opens a fresh, empty store.

import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import type { PresenceStore } from "../../src/storage/types.ts";

export type OpenPresenceStore = () => Promise<{ store: PresenceStore; close: () => Promise<void> }>;

export function presenceStoreContract(name: string, open: OpenPresenceStore): void {
  describe(name, () => {
    let store: PresenceStore;
    let close: () => Promise<void>;

    beforeEach(async () => {
      ({ store, close } = await open());
    });
    afterEach(async () => {
      await close();
    });

    test("an unknown user is offline and never seen", async () => {
      expect(await store.get(["nobody"])).toEqual([{ user: "nobody", online: false, lastSeen: 0 }]);
      expect(await store.onlineDevices("nobody")).toEqual([]);
    });

    test("a user stays online until the last device on any node goes offline", async () => {
      expect(await store.deviceOnline("alice", "phone", 1, 1000)).toBe(true);
      expect(await store.deviceOnline("alice", "laptop", 2, 2000)).toBe(false);
      expect((await store.onlineDevices("alice")).sort()).toEqual(["laptop", "phone"]);
      expect(await store.get(["alice"])).toEqual([{ user: "alice", online: true, lastSeen: 0 }]);

      expect(await store.deviceOffline("alice", "phone", 1, 3000)).toBe(false);
      expect(await store.onlineDevices("alice")).toEqual(["laptop"]);
      expect((await store.get(["alice"]))[0]?.online).toBe(true);

      expect(await store.deviceOffline("alice", "laptop", 2, 4000)).toBe(true);
      expect(await store.onlineDevices("alice")).toEqual([]);
      expect(await store.get(["alice"])).toEqual([{ user: "alice", online: false, lastSeen: 4000 }]);

      expect(await store.deviceOnline("alice", "phone", 1, 5000)).toBe(true);
      expect((await store.get(["alice"]))[0]?.online).toBe(true);
    });

    test("three devices come and go in any order; the user goes offline with the last", async () => {
      expect(await store.deviceOnline("alice", "phone", 1, 1000)).toBe(true);
      expect(await store.deviceOnline("alice", "laptop", 1, 1100)).toBe(false);
      expect(await store.deviceOnline("alice", "tablet", 2, 1200)).toBe(false);
      expect(await store.deviceOnline("alice", "laptop", 1, 1300)).toBe(false);
      expect(await store.deviceOffline("alice", "laptop", 1, 2000)).toBe(false);
      expect((await store.onlineDevices("alice")).sort()).toEqual(["phone", "tablet"]);
      expect(await store.deviceOffline("alice", "phone", 1, 2100)).toBe(false);
      expect(await store.onlineDevices("alice")).toEqual(["tablet"]);
      expect(await store.deviceOnline("alice", "phone", 1, 2200)).toBe(false);
      expect(await store.deviceOffline("alice", "tablet", 2, 2300)).toBe(false);
      expect(await store.deviceOffline("alice", "phone", 1, 2400)).toBe(true);
      expect(await store.get(["alice"])).toEqual([{ user: "alice", online: false, lastSeen: 2400 }]);
    });

    test("a device reconnecting on another node stays online until both connections close", async () => {
      expect(await store.deviceOnline("alice", "phone", 1, 1000)).toBe(true);
      expect(await store.deviceOnline("alice", "phone", 2, 1500)).toBe(false);
      expect(await store.deviceOffline("alice", "phone", 1, 2000)).toBe(false);
      expect(await store.onlineDevices("alice")).toEqual(["phone"]);
      expect(await store.deviceOffline("alice", "phone", 2, 3000)).toBe(true);
      expect(await store.get(["alice"])).toEqual([{ user: "alice", online: false, lastSeen: 3000 }]);
    });

    test("a second offline of the same connection returns false and changes nothing", async () => {
      await store.deviceOnline("alice", "phone", 1, 1000);
      expect(await store.deviceOffline("alice", "phone", 1, 2000)).toBe(true);
      expect(await store.deviceOffline("alice", "phone", 1, 3000)).toBe(false);
      expect(await store.get(["alice"])).toEqual([{ user: "alice", online: false, lastSeen: 2000 }]);
      // Never online at all.
      expect(await store.deviceOffline("bob", "phone", 1, 3000)).toBe(false);
      expect(await store.get(["bob"])).toEqual([{ user: "bob", online: false, lastSeen: 0 }]);
    });

    test("offline for a node or device that is not connected leaves the user online", async () => {
      await store.deviceOnline("alice", "phone", 1, 1000);
      expect(await store.deviceOffline("alice", "phone", 2, 2000)).toBe(false);
      expect(await store.deviceOffline("alice", "laptop", 1, 2000)).toBe(false);
      expect(await store.onlineDevices("alice")).toEqual(["phone"]);
      expect(await store.get(["alice"])).toEqual([{ user: "alice", online: true, lastSeen: 0 }]);
      expect(await store.deviceOffline("alice", "phone", 1, 3000)).toBe(true);
      expect(await store.get(["alice"])).toEqual([{ user: "alice", online: false, lastSeen: 3000 }]);
    });

    test("get answers for several users in the order asked; heartbeats change nothing", async () => {
      await store.deviceOnline("bob", "phone", 1, 1000);
      await store.heartbeat("bob", "phone", 1, 2000);
      await store.deviceOnline("carol", "phone", 1, 1000);
      await store.deviceOffline("carol", "phone", 1, 2500);
      expect(await store.get(["carol", "bob", "nobody"])).toEqual([
        { user: "carol", online: false, lastSeen: 2500 },
        { user: "bob", online: true, lastSeen: 0 },
        { user: "nobody", online: false, lastSeen: 0 },
      ]);
    });
  });
}
