// Row <-> record mapping and the rules of the e2ee tables, shared by the SQLite and PostgreSQL
// stores: their tables have the same columns, so one mapping and one set of rules serve both.

import type { DeviceRef } from "../proto/types.ts";
import { KeyPackageLimitError, type MlsGroupRecord, type PendingCommit } from "./e2ee-types.ts";

export interface MlsGroupRow {
  convId: string;
  groupId: Uint8Array;
  epoch: number;
  commitSeq: number;
  commitHash: string;
  pending: string | null;
}

export interface MlsLeafRow {
  convId: string;
  leaf: number;
  user: string;
  device: string;
}

interface PendingJson {
  from: string;
  dev: string;
  cid: string;
  media: string | null;
  body: string;
}

export function pendingColumn(p: PendingCommit | null): string | null {
  if (!p) return null;
  const json: PendingJson = { from: p.from, dev: p.dev, cid: p.cid, media: p.media, body: Buffer.from(p.body).toString("base64") };
  return JSON.stringify(json);
}

function pendingCommit(column: string | null): PendingCommit | null {
  if (column === null) return null;
  const p = JSON.parse(column) as PendingJson;
  return { from: p.from, dev: p.dev, cid: p.cid, media: p.media, body: new Uint8Array(Buffer.from(p.body, "base64")) };
}

export function groupRecord(row: MlsGroupRow, leafRows: MlsLeafRow[]): MlsGroupRecord {
  const leaves: (DeviceRef | null)[] = [];
  for (const r of leafRows) {
    while (leaves.length < r.leaf) leaves.push(null);
    leaves[r.leaf] = { user: r.user, device: r.device };
  }
  return {
    conv: row.convId,
    groupId: new Uint8Array(row.groupId),
    epoch: row.epoch,
    commitSeq: row.commitSeq,
    commitHash: row.commitHash,
    pending: pendingCommit(row.pending),
    leaves,
  };
}

/** The rows of a group's non-blank leaves. */
export function leafRows(conv: string, leaves: (DeviceRef | null)[]): MlsLeafRow[] {
  const out: MlsLeafRow[] = [];
  leaves.forEach((l, leaf) => l && out.push({ convId: conv, leaf, user: l.user, device: l.device }));
  return out;
}

/** Throws unless a device holding `held` claimable packages may take `adding` more. */
export function checkKeyPackageCap(held: number, adding: number, max: number): void {
  if (held + adding > max) throw new KeyPackageLimitError(max);
}

/** "user/device": how the stores key a device in maps. */
export const deviceKey = (d: DeviceRef) => `${d.user}/${d.device}`;

/** Distinct devices, in first-seen order. */
export function distinctDevices(devices: DeviceRef[]): DeviceRef[] {
  const seen = new Map<string, DeviceRef>();
  for (const d of devices) if (!seen.has(deviceKey(d))) seen.set(deviceKey(d), d);
  return [...seen.values()];
}
