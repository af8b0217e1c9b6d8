// Row <-> record mapping shared by the SQLite and PostgreSQL metadata stores: their tables have
// the same columns, so one mapping serves both dialects.

import type { HiddenMessages } from "../proto/types.ts";
import type { ChatSettingsRecord, ConversationRecord, MediaRecord, MemberRecord } from "./types.ts";

/** A conversations row: the timer only when set, like every optional field of a record. */
export function conversationRecord(r: ConversationRecord & { timer: number }): ConversationRecord {
  const { timer, ...rest } = r;
  return timer > 0 ? { ...rest, timer } : rest;
}

export function chatSettingsRecord(r: { convId: string; muteUntil: number; archived: boolean; pinned: boolean; unread: boolean }): ChatSettingsRecord {
  return { conv: r.convId, muteUntil: r.muteUntil, archived: r.archived, pinned: r.pinned, unread: r.unread };
}

/** Rows of (conv, seq), grouped by conversation in the order met, seqs ascending. */
export function groupHidden(rows: { conv: string; seq: number }[]): HiddenMessages[] {
  const by = new Map<string, number[]>();
  for (const r of rows) {
    let seqs = by.get(r.conv);
    if (!seqs) by.set(r.conv, (seqs = []));
    seqs.push(r.seq);
  }
  return [...by].map(([conv, seqs]) => ({ conv, seqs: seqs.sort((a, b) => a - b) }));
}

/** The columns of a members table (either dialect's) that make a MemberRecord: what a select projects. */
export function memberColumns<T extends Record<"user" | "admin" | "joinedSeq" | "delivered" | "read", unknown>>(t: T): Pick<T, "user" | "admin" | "joinedSeq" | "delivered" | "read"> {
  return { user: t.user, admin: t.admin, joinedSeq: t.joinedSeq, delivered: t.delivered, read: t.read };
}

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
