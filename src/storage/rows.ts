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
  expiresAt: number | null;
  convId: string | null;
  objectKey: string | null;
  thumb: string | null;
}

export function mediaRow(m: MediaRecord): MediaRow {
  return {
    id: m.id,
    owner: m.owner,
    contentType: m.contentType,
    size: m.size,
    sha256: m.sha256,
    createdAt: m.createdAt,
    expiresAt: m.expiresAt,
    convId: m.conv,
    objectKey: m.objectKey,
    thumb: m.thumb,
  };
}

export function mediaRecord(r: MediaRow): MediaRecord {
  return {
    id: r.id,
    owner: r.owner,
    contentType: r.contentType,
    size: r.size,
    sha256: r.sha256,
    createdAt: r.createdAt,
    expiresAt: r.expiresAt,
    conv: r.convId,
    objectKey: r.objectKey,
    thumb: r.thumb,
  };
}
