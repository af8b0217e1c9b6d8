// Behaviour every E2eeStore backend must show (src/storage/e2ee-types.ts). Each backend's test file
// calls e2eeStoreContract() with a factory that opens a fresh, empty backend: the e2ee store and
// the metadata store of the same database (revoked devices come from its devices table, groups
// belong to its conversations).

import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { KeyPackageLimitError, type E2eeStore, type MlsGroupNext, type NewKeyPackage } from "../../src/storage/e2ee-types.ts";
import type { MetadataStore } from "../../src/storage/types.ts";

export type OpenE2eeStore = () => Promise<{ e2ee: E2eeStore; metadata: MetadataStore; close: () => Promise<void> }>;

const T = 1_700_000_000_000;
const DAY = 86_400_000;

let refs = 0;
export function kp(expiresAt = T + DAY, body?: Uint8Array): NewKeyPackage {
  const n = ++refs;
  return { ref: `ref-${n}`.padEnd(64, "0"), body: body ?? new Uint8Array([n & 0xff, n >> 8, 7, 7]), expiresAt };
}

export function next(epoch: number, leaves: MlsGroupNext["leaves"], extra: Partial<MlsGroupNext> = {}): MlsGroupNext {
  return {
    groupId: new Uint8Array([1, 2, 3]),
    epoch,
    commitHash: `hash-${epoch}`,
    pending: { from: "alice", dev: "a1", cid: `mls:${epoch}`, body: new Uint8Array([9, epoch]), media: null },
    leaves,
    ...extra,
  };
}

export function e2eeStoreContract(name: string, open: OpenE2eeStore): void {
  describe(name, () => {
    let store: E2eeStore;
    let metadata: MetadataStore;
    let close: () => Promise<void>;

    beforeEach(async () => {
      ({ e2ee: store, metadata, close } = await open());
    });
    afterEach(async () => {
      await close();
    });

    async function conversation(id: string): Promise<void> {
      await metadata.createConversation({ id, type: 2, title: id, createdBy: "alice", createdAt: T }, [{ user: "alice", admin: true, joinedSeq: 1, delivered: 0, read: 0 }]);
    }

    describe("KeyPackages", () => {
      test("packages are stored and counted per device; a ref uploaded twice counts once; expired ones do not count", async () => {
        const a = kp();
        expect(await store.addKeyPackages("alice", "a1", [a, kp(), a], null, 10, T)).toEqual({ count: 2, lastResort: false });
        expect(await store.addKeyPackages("alice", "a1", [a, kp(T + 10)], kp(), 10, T)).toEqual({ count: 3, lastResort: true });
        expect(await store.keyPackageStock("alice", "a2", T)).toEqual({ count: 0, lastResort: false });
        expect(await store.keyPackageStock("alice", "a1", T + 10)).toEqual({ count: 2, lastResort: true });
      });

      test("the limit counts the device's unexpired packages; past it nothing of the batch is written", async () => {
        await store.addKeyPackages("alice", "a1", [kp(), kp(), kp(T + 5)], null, 3, T);
        await expect(store.addKeyPackages("alice", "a1", [kp(), kp()], null, 3, T)).rejects.toBeInstanceOf(KeyPackageLimitError);
        expect(await store.keyPackageStock("alice", "a1", T)).toEqual({ count: 3, lastResort: false });
        // Once one expired, one more fits.
        expect((await store.addKeyPackages("alice", "a1", [kp()], null, 3, T + 5)).count).toBe(3);
        // Another device has its own limit; the last-resort package is outside it.
        expect(await store.addKeyPackages("alice", "a2", [kp(), kp(), kp()], kp(), 3, T)).toEqual({ count: 3, lastResort: true });
      });

      test("a claim takes the oldest unexpired package once, then the last-resort one, which stays", async () => {
        const [p1, p2, p3] = [kp(), kp(), kp(T + 5)];
        const last = kp();
        await store.addKeyPackages("bob", "b1", [p1!], null, 10, T);
        await store.addKeyPackages("bob", "b1", [p2!, p3!], last, 10, T + 1);
        const claim = (nowMs: number) => store.claimKeyPackages([{ user: "bob", device: "b1" }], nowMs);
        expect(await claim(T + 10)).toEqual([{ user: "bob", device: "b1", body: p1!.body, lastResort: false }]);
        expect(await claim(T + 10)).toEqual([{ user: "bob", device: "b1", body: p2!.body, lastResort: false }]);
        // p3 has expired by now: the last-resort package answers, every time.
        expect(await claim(T + 10)).toEqual([{ user: "bob", device: "b1", body: last.body, lastResort: true }]);
        expect(await claim(T + 10)).toEqual([{ user: "bob", device: "b1", body: last.body, lastResort: true }]);
        expect(await store.keyPackageStock("bob", "b1", T + 10)).toEqual({ count: 0, lastResort: true });
        // A device without packages is left out; a device named twice is claimed once.
        expect(await store.claimKeyPackages([{ user: "bob", device: "b9" }], T)).toEqual([]);
        await store.addKeyPackages("carol", "c1", [kp(), kp()], null, 10, T);
        expect(await store.claimKeyPackages([{ user: "carol", device: "c1" }, { user: "carol", device: "c1" }], T)).toHaveLength(1);
      });

      test("a new last-resort package replaces the old one", async () => {
        const [first, second] = [kp(), kp()];
        await store.addKeyPackages("dan", "d1", [], first!, 10, T);
        await store.addKeyPackages("dan", "d1", [], second!, 10, T);
        expect(await store.claimKeyPackages([{ user: "dan", device: "d1" }], T)).toEqual([{ user: "dan", device: "d1", body: second!.body, lastResort: true }]);
      });

      test("concurrent claims never hand out one package twice", async () => {
        const packages = Array.from({ length: 10 }, () => kp());
        await store.addKeyPackages("eve", "e1", packages, kp(), 100, T);
        const results = await Promise.all(Array.from({ length: 25 }, () => store.claimKeyPackages([{ user: "eve", device: "e1" }], T)));
        const taken = results.flat().filter((c) => !c.lastResort);
        expect(taken).toHaveLength(10);
        expect(new Set(taken.map((c) => c.body.join(","))).size).toBe(10);
        expect(results.flat().filter((c) => c.lastResort)).toHaveLength(15);
      });

      test("deviceStates tells revoked devices and which hold a package; pruning deletes expired packages", async () => {
        await metadata.touchDevice("fay", "f1", T, 10);
        await metadata.touchDevice("fay", "f2", T, 10);
        await metadata.touchDevice("fay", "f3", T, 10);
        await metadata.revokeDevice("fay", "f2", T);
        await store.addKeyPackages("fay", "f1", [kp(T + 5)], null, 10, T);
        await store.addKeyPackages("fay", "f3", [], kp(), 10, T);
        const states = (await store.deviceStates(["fay", "nobody"], T)).sort((a, b) => a.device.localeCompare(b.device));
        expect(states).toEqual([
          { user: "fay", device: "f1", revoked: false, claimable: true },
          { user: "fay", device: "f2", revoked: true, claimable: false },
          { user: "fay", device: "f3", revoked: false, claimable: true },
        ]);
        expect((await store.deviceStates(["fay"], T + 5)).find((s) => s.device === "f1")!.claimable).toBe(false);
        expect(await store.pruneKeyPackages(T + 5)).toBe(1);
        expect(await store.keyPackageStock("fay", "f1", T)).toEqual({ count: 0, lastResort: false });
        expect(await store.deviceStates([], T)).toEqual([]);
      });
    });

    describe("groups", () => {
      test("a group is founded once, moves one epoch at a time, and keeps its leaves with blanks", async () => {
        await conversation("g1");
        expect(await store.getGroup("g1")).toBeNull();
        const a1 = { user: "alice", device: "a1" };
        const b1 = { user: "bob", device: "b1" };
        expect(await store.advanceGroup("g1", null, next(1, [a1, b1]))).toBe(true);
        expect(await store.advanceGroup("g1", null, next(1, [b1]))).toBe(false);
        const g = await store.getGroup("g1");
        expect(g).toEqual({ conv: "g1", groupId: new Uint8Array([1, 2, 3]), epoch: 1, commitSeq: 0, commitHash: "hash-1", pending: next(1, []).pending, leaves: [a1, b1] });
        await store.committed("g1", 1, 7);
        expect(await store.getGroup("g1")).toMatchObject({ epoch: 1, commitSeq: 7, pending: null });
        // Epoch 1 -> 2 with the first leaf blank; a commit for epoch 1 again changes nothing.
        expect(await store.advanceGroup("g1", 1, next(2, [null, b1, a1]))).toBe(true);
        expect(await store.advanceGroup("g1", 1, next(2, [b1]))).toBe(false);
        expect(await store.getGroup("g1")).toMatchObject({ epoch: 2, commitSeq: 0, leaves: [null, b1, a1] });
        // committed() for an epoch the group has left does nothing.
        await store.committed("g1", 1, 99);
        expect((await store.getGroup("g1"))!.commitSeq).toBe(0);
        expect(await store.groupsWithDevice("alice", "a1")).toEqual(["g1"]);
        expect(await store.groupsWithDevice("alice", "a2")).toEqual([]);
      });

      test("of concurrent commits for one epoch exactly one moves the group", async () => {
        await conversation("g2");
        await store.advanceGroup("g2", null, next(1, [{ user: "alice", device: "a1" }]));
        const results = await Promise.all(Array.from({ length: 10 }, (_, i) => store.advanceGroup("g2", 1, next(2, [{ user: "alice", device: `a${i}` }], { commitHash: `h${i}` }))));
        expect(results.filter(Boolean)).toHaveLength(1);
        const winner = results.indexOf(true);
        expect(await store.getGroup("g2")).toMatchObject({ epoch: 2, commitHash: `h${winner}`, leaves: [{ user: "alice", device: `a${winner}` }] });
      });

      test("a large group's leaves are written and read back in order", async () => {
        await conversation("g3");
        const leaves = Array.from({ length: 2500 }, (_, i) => (i % 7 === 3 ? null : { user: `u${i}`, device: "d" }));
        expect(await store.advanceGroup("g3", null, next(1, leaves))).toBe(true);
        expect((await store.getGroup("g3"))!.leaves).toEqual(leaves);
      });
    });
  });
}
