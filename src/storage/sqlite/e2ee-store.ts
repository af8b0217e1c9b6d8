// SQLite E2eeStore: KeyPackages and MLS groups on the embedded metadata database. bun:sqlite is
// synchronous and every write runs in an immediate transaction, so a claim's read and delete, and
// a commit's epoch check and write, happen under the write lock with nothing in between.

import { and, asc, count, eq, gt, inArray, lte, sql } from "drizzle-orm";
import type { BunSQLiteDatabase } from "drizzle-orm/bun-sqlite";
import type { DeviceRef } from "../../proto/types.ts";
import { checkKeyPackageCap, deviceKey, distinctDevices, groupRecord, leafRows, pendingColumn } from "../e2ee-rows.ts";
import type { ClaimedPackage, DeviceState, E2eeStore, KeyPackageStock, MlsGroupNext, MlsGroupRecord, NewKeyPackage } from "../e2ee-types.ts";
import type { ConnectWriter } from "./connect-writer.ts";
import type * as schema from "./schema.ts";
import { devices, mlsGroups, mlsKeyPackages, mlsLeaves } from "./schema.ts";

type Orm = BunSQLiteDatabase<typeof schema>;
type Tx = Parameters<Parameters<Orm["transaction"]>[0]>[0];

/** Write transactions take the write lock up front so they never fail upgrading a read lock. */
const WRITE = { behavior: "immediate" } as const;

const ofDevice = (user: string, device: string) => and(eq(mlsKeyPackages.user, user), eq(mlsKeyPackages.device, device));

function stock(tx: Pick<Orm, "select">, user: string, device: string, nowMs: number): KeyPackageStock {
  const rows = tx
    .select({ lastResort: mlsKeyPackages.lastResort, n: count() })
    .from(mlsKeyPackages)
    .where(and(ofDevice(user, device), gt(mlsKeyPackages.expiresAt, nowMs)))
    .groupBy(mlsKeyPackages.lastResort)
    .all();
  return { count: rows.find((r) => !r.lastResort)?.n ?? 0, lastResort: rows.some((r) => r.lastResort && r.n > 0) };
}

function claimOne(tx: Tx, d: DeviceRef, nowMs: number): ClaimedPackage | null {
  const live = and(ofDevice(d.user, d.device), gt(mlsKeyPackages.expiresAt, nowMs));
  const next = tx
    .select({ ref: mlsKeyPackages.ref, body: mlsKeyPackages.body })
    .from(mlsKeyPackages)
    .where(and(live, eq(mlsKeyPackages.lastResort, false)))
    .orderBy(asc(mlsKeyPackages.createdAt), asc(mlsKeyPackages.ref))
    .limit(1)
    .get();
  if (next) {
    tx.delete(mlsKeyPackages).where(eq(mlsKeyPackages.ref, next.ref)).run();
    return { ...d, body: new Uint8Array(next.body), lastResort: false };
  }
  const last = tx.select({ body: mlsKeyPackages.body }).from(mlsKeyPackages).where(and(live, eq(mlsKeyPackages.lastResort, true))).get();
  return last ? { ...d, body: new Uint8Array(last.body), lastResort: true } : null;
}

export class SqliteE2eeStore implements E2eeStore {
  // Prepared once: a conversation's first send after its actor loads asks for its group (most
  // have none). Unprepared, drizzle builds the query and bun:sqlite compiles its SQL on every
  // call: about 100 µs, against 6 µs prepared.
  readonly #groupOf;
  readonly #leavesOf;

  constructor(
    private readonly db: Orm,
    /** Connections' device registrations wait for their batch here: deviceStates flushes it first. */
    private readonly connects: ConnectWriter,
  ) {
    this.#groupOf = db.select().from(mlsGroups).where(eq(mlsGroups.convId, sql.placeholder("conv"))).prepare();
    this.#leavesOf = db.select().from(mlsLeaves).where(eq(mlsLeaves.convId, sql.placeholder("conv"))).orderBy(asc(mlsLeaves.leaf)).prepare();
  }

  // ---- KeyPackages ----------------------------------------------------------------------------

  async addKeyPackages(user: string, device: string, packages: NewKeyPackage[], lastResort: NewKeyPackage | null, max: number, nowMs: number): Promise<KeyPackageStock> {
    return this.db.transaction((tx) => {
      const refs = packages.map((p) => p.ref);
      const known = new Set(refs.length ? tx.select({ ref: mlsKeyPackages.ref }).from(mlsKeyPackages).where(inArray(mlsKeyPackages.ref, refs)).all().map((r) => r.ref) : []);
      const fresh = [...new Map(packages.filter((p) => !known.has(p.ref)).map((p) => [p.ref, p])).values()];
      checkKeyPackageCap(stock(tx, user, device, nowMs).count, fresh.filter((p) => p.expiresAt > nowMs).length, max);
      const row = (p: NewKeyPackage, isLast: boolean) => ({ ref: p.ref, user, device, body: Buffer.from(p.body), lastResort: isLast, createdAt: nowMs, expiresAt: p.expiresAt });
      if (fresh.length > 0) tx.insert(mlsKeyPackages).values(fresh.map((p) => row(p, false))).run();
      if (lastResort) {
        tx.delete(mlsKeyPackages).where(and(ofDevice(user, device), eq(mlsKeyPackages.lastResort, true))).run();
        // The same bytes may have been uploaded as a claimable package: the last-resort role wins.
        tx.insert(mlsKeyPackages).values(row(lastResort, true)).onConflictDoUpdate({ target: mlsKeyPackages.ref, set: { lastResort: true } }).run();
      }
      return stock(tx, user, device, nowMs);
    }, WRITE);
  }

  async keyPackageStock(user: string, device: string, nowMs: number): Promise<KeyPackageStock> {
    return stock(this.db, user, device, nowMs);
  }

  async claimKeyPackages(list: DeviceRef[], nowMs: number): Promise<ClaimedPackage[]> {
    const targets = distinctDevices(list);
    if (targets.length === 0) return [];
    return this.db.transaction((tx) => targets.map((d) => claimOne(tx, d, nowMs)).filter((c): c is ClaimedPackage => c !== null), WRITE);
  }

  async deviceStates(users: string[], nowMs: number): Promise<DeviceState[]> {
    if (users.length === 0) return [];
    const list = [...new Set(users)];
    this.connects.flush();
    const rows = this.db.select({ user: devices.user, device: devices.device, revokedAt: devices.revokedAt }).from(devices).where(inArray(devices.user, list)).all();
    const holding = new Set(
      this.db
        .selectDistinct({ user: mlsKeyPackages.user, device: mlsKeyPackages.device })
        .from(mlsKeyPackages)
        .where(and(inArray(mlsKeyPackages.user, list), gt(mlsKeyPackages.expiresAt, nowMs)))
        .all()
        .map(deviceKey),
    );
    return rows.map((r) => ({ user: r.user, device: r.device, revoked: r.revokedAt !== null, claimable: holding.has(deviceKey(r)) }));
  }

  async pruneKeyPackages(nowMs: number): Promise<number> {
    return this.db.delete(mlsKeyPackages).where(lte(mlsKeyPackages.expiresAt, nowMs)).returning({ ref: mlsKeyPackages.ref }).all().length;
  }

  // ---- groups -----------------------------------------------------------------------------------

  async getGroup(conv: string): Promise<MlsGroupRecord | null> {
    const row = this.#groupOf.get({ conv });
    if (!row) return null;
    const leaves = this.#leavesOf.all({ conv });
    return groupRecord(row, leaves);
  }

  async advanceGroup(conv: string, from: number | null, next: MlsGroupNext): Promise<boolean> {
    const values = { groupId: Buffer.from(next.groupId), epoch: next.epoch, commitSeq: 0, commitHash: next.commitHash, pending: pendingColumn(next.pending) };
    return this.db.transaction((tx) => {
      const moved =
        from === null
          ? tx.insert(mlsGroups).values({ convId: conv, ...values }).onConflictDoNothing().returning({ conv: mlsGroups.convId }).all()
          : tx
              .update(mlsGroups)
              .set(values)
              .where(and(eq(mlsGroups.convId, conv), eq(mlsGroups.epoch, from)))
              .returning({ conv: mlsGroups.convId })
              .all();
      if (moved.length === 0) return false;
      tx.delete(mlsLeaves).where(eq(mlsLeaves.convId, conv)).run();
      const rows = leafRows(conv, next.leaves);
      // A statement's variables are limited (32766): a large group is written in slices.
      for (let i = 0; i < rows.length; i += 1000) tx.insert(mlsLeaves).values(rows.slice(i, i + 1000)).run();
      return true;
    }, WRITE);
  }

  async committed(conv: string, epoch: number, seq: number): Promise<void> {
    this.db
      .update(mlsGroups)
      .set({ commitSeq: seq, pending: null })
      .where(and(eq(mlsGroups.convId, conv), eq(mlsGroups.epoch, epoch), eq(mlsGroups.commitSeq, 0)))
      .run();
  }

  async groupsWithDevice(user: string, device: string): Promise<string[]> {
    return this.db
      .selectDistinct({ conv: mlsLeaves.convId })
      .from(mlsLeaves)
      .where(and(eq(mlsLeaves.user, user), eq(mlsLeaves.device, device)))
      .all()
      .map((r) => r.conv);
  }
}

