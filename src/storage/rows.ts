// Row <-> record mapping shared by the SQLite and PostgreSQL metadata stores: their tables have
// the same columns, so one mapping serves both dialects.

import type { MediaRecord, MemberRecord } from "./types.ts";

export function memberRow(conv: string, m: MemberRecord) {
  return { convId: conv, user: m.user, admin: m.admin, joinedSeq: m.joinedSeq, delivered: m.delivered, read: m.read };
}

export interface MediaRow {
  id: string;
  owner: string;
  contentType: string;
  size: number;
  sha256: string;
  createdAt: number;
  convId: string | null;
  thumb: string | null;
}

export function mediaRecord(r: MediaRow): MediaRecord {
  return { id: r.id, owner: r.owner, contentType: r.contentType, size: r.size, sha256: r.sha256, createdAt: r.createdAt, conv: r.convId, thumb: r.thumb };
}
