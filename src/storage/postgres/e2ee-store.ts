// PostgreSQL E2eeStore: KeyPackages and MLS groups, shared by every node of a cluster.
//
// Claims take each package with DELETE ... WHERE ref = (SELECT ... FOR UPDATE SKIP LOCKED): a
// package another claim has locked is skipped rather than waited for, so concurrent claims (from
// any node) each get a different one, and none waits on another. A group moves to its next epoch
// with UPDATE ... WHERE epoch = <the epoch the commit was made for>: the row lock orders
// concurrent commits, and under READ COMMITTED the one that waited re-reads the row, finds the
// epoch moved and changes nothing. Both run in READ COMMITTED whatever the server's default.

import { and, asc, eq, inArray, lte, sql } from "drizzle-orm";
import type { PostgresJsDatabase } from "drizzle-orm/postgres-js";
import type { Sql } from "postgres";
import type { DeviceRef } from "../../proto/types.ts";
import { checkKeyPackageCap, deviceKey, distinctDevices, groupRecord, leafRows, pendingColumn } from "../e2ee-rows.ts";
import type { ClaimedPackage, DeviceState, E2eeStore, KeyPackageStock, MlsGroupNext, MlsGroupRecord, NewKeyPackage } from "../e2ee-types.ts";
import type * as schema from "./schema.ts";
import { devices, mlsGroups, mlsKeyPackages, mlsLeaves } from "./schema.ts";

type Orm = PostgresJsDatabase<typeof schema> & { $client: Sql };
type Pg = Sql | Parameters<Parameters<Sql["begin"]>[1]>[0];

const READ_COMMITTED = { isolationLevel: "read committed" } as const;
const READ_COMMITTED_PG = "isolation level read committed";

async function stock(pg: Pg, user: string, device: string, nowMs: number): Promise<KeyPackageStock> {
  const rows = await pg<{ lastResort: boolean; n: number }[]>`
    SELECT last_resort AS "lastResort", count(*)::int AS n FROM mls_key_packages
    WHERE "user" = ${user} AND device = ${device} AND expires_at > ${nowMs} GROUP BY last_resort`;
  return { count: rows.find((r) => !r.lastResort)?.n ?? 0, lastResort: rows.some((r) => r.lastResort && r.n > 0) };
}

export class PostgresE2eeStore implements E2eeStore {
  constructor(private readonly db: Orm) {}

  // ---- KeyPackages ----------------------------------------------------------------------------

  async addKeyPackages(user: string, device: string, packages: NewKeyPackage[], lastResort: NewKeyPackage | null, max: number, nowMs: number): Promise<KeyPackageStock> {
    return this.db.$client.begin(READ_COMMITTED_PG, async (tx) => {
      // One upload of a device at a time (from any node), so the cap holds.
      await tx`SELECT pg_advisory_xact_lock(hashtext('msgr.key_packages'), hashtext(${deviceKey({ user, device })}))`;
      const refs = [...new Set(packages.map((p) => p.ref))];
      const known = new Set(refs.length ? (await tx<{ ref: string }[]>`SELECT ref FROM mls_key_packages WHERE ref IN ${tx(refs)}`).map((r) => r.ref) : []);
      const fresh = [...new Map(packages.filter((p) => !known.has(p.ref)).map((p) => [p.ref, p])).values()];
      checkKeyPackageCap((await stock(tx, user, device, nowMs)).count, fresh.filter((p) => p.expiresAt > nowMs).length, max);
      const row = (p: NewKeyPackage, isLast: boolean) => ({ ref: p.ref, user, device, body: p.body, last_resort: isLast, created_at: nowMs, expires_at: p.expiresAt });
      if (fresh.length > 0) await tx`INSERT INTO mls_key_packages ${tx(fresh.map((p) => row(p, false)))} ON CONFLICT (ref) DO NOTHING`;
      if (lastResort) {
        await tx`DELETE FROM mls_key_packages WHERE "user" = ${user} AND device = ${device} AND last_resort`;
        await tx`INSERT INTO mls_key_packages ${tx(row(lastResort, true))} ON CONFLICT (ref) DO UPDATE SET last_resort = true`;
      }
      return stock(tx, user, device, nowMs);
    }) as Promise<KeyPackageStock>;
  }

  async keyPackageStock(user: string, device: string, nowMs: number): Promise<KeyPackageStock> {
    return stock(this.db.$client, user, device, nowMs);
  }

  async claimKeyPackages(list: DeviceRef[], nowMs: number): Promise<ClaimedPackage[]> {
    const targets = distinctDevices(list);
    if (targets.length === 0) return [];
    return this.db.$client.begin(READ_COMMITTED_PG, async (tx) => {
      const out: ClaimedPackage[] = [];
      for (const d of targets) {
        const [taken] = await tx<{ body: Uint8Array }[]>`
          DELETE FROM mls_key_packages WHERE ref = (
            SELECT ref FROM mls_key_packages
            WHERE "user" = ${d.user} AND device = ${d.device} AND NOT last_resort AND expires_at > ${nowMs}
            ORDER BY created_at, ref LIMIT 1 FOR UPDATE SKIP LOCKED)
          RETURNING body`;
        if (taken) {
          out.push({ ...d, body: new Uint8Array(taken.body), lastResort: false });
          continue;
        }
        const [last] = await tx<{ body: Uint8Array }[]>`
          SELECT body FROM mls_key_packages WHERE "user" = ${d.user} AND device = ${d.device} AND last_resort AND expires_at > ${nowMs}`;
        if (last) out.push({ ...d, body: new Uint8Array(last.body), lastResort: true });
      }
      return out;
    }) as Promise<ClaimedPackage[]>;
  }

  async deviceStates(users: string[], nowMs: number): Promise<DeviceState[]> {
    if (users.length === 0) return [];
    const list = [...new Set(users)];
    const [rows, holding] = await Promise.all([
      this.db.select({ user: devices.user, device: devices.device, revokedAt: devices.revokedAt }).from(devices).where(inArray(devices.user, list)),
      this.db
        .selectDistinct({ user: mlsKeyPackages.user, device: mlsKeyPackages.device })
        .from(mlsKeyPackages)
        .where(and(inArray(mlsKeyPackages.user, list), sql`${mlsKeyPackages.expiresAt} > ${nowMs}`)),
    ]);
    const has = new Set(holding.map(deviceKey));
    return rows.map((r) => ({ user: r.user, device: r.device, revoked: r.revokedAt !== null, claimable: has.has(deviceKey(r)) }));
  }

  async pruneKeyPackages(nowMs: number): Promise<number> {
    return (await this.db.delete(mlsKeyPackages).where(lte(mlsKeyPackages.expiresAt, nowMs)).returning({ ref: mlsKeyPackages.ref })).length;
  }

  // ---- groups -----------------------------------------------------------------------------------

  async getGroup(conv: string): Promise<MlsGroupRecord | null> {
    const [row] = await this.db.select().from(mlsGroups).where(eq(mlsGroups.convId, conv));
    if (!row) return null;
    const leaves = await this.db.select().from(mlsLeaves).where(eq(mlsLeaves.convId, conv)).orderBy(asc(mlsLeaves.leaf));
    return groupRecord(row, leaves);
  }

  async advanceGroup(conv: string, from: number | null, next: MlsGroupNext): Promise<boolean> {
    const values = { groupId: next.groupId, epoch: next.epoch, commitSeq: 0, commitHash: next.commitHash, pending: pendingColumn(next.pending) };
    return this.db.transaction(async (tx) => {
      const moved =
        from === null
          ? await tx.insert(mlsGroups).values({ convId: conv, ...values }).onConflictDoNothing().returning({ conv: mlsGroups.convId })
          : await tx
              .update(mlsGroups)
              .set(values)
              .where(and(eq(mlsGroups.convId, conv), eq(mlsGroups.epoch, from)))
              .returning({ conv: mlsGroups.convId });
      if (moved.length === 0) return false;
      await tx.delete(mlsLeaves).where(eq(mlsLeaves.convId, conv));
      const rows = leafRows(conv, next.leaves);
      // A statement takes at most 65535 parameters: a large group is written in slices.
      for (let i = 0; i < rows.length; i += 1000) await tx.insert(mlsLeaves).values(rows.slice(i, i + 1000));
      return true;
    }, READ_COMMITTED);
  }

  async committed(conv: string, epoch: number, seq: number): Promise<void> {
    await this.db
      .update(mlsGroups)
      .set({ commitSeq: seq, pending: null })
      .where(and(eq(mlsGroups.convId, conv), eq(mlsGroups.epoch, epoch), eq(mlsGroups.commitSeq, 0)));
  }

  async groupsWithDevice(user: string, device: string): Promise<string[]> {
    const rows = await this.db
      .selectDistinct({ conv: mlsLeaves.convId })
      .from(mlsLeaves)
      .where(and(eq(mlsLeaves.user, user), eq(mlsLeaves.device, device)));
    return rows.map((r) => r.conv);
  }
}
