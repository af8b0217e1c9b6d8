// Row <-> record mapping of the safety tables, shared by the SQLite and PostgreSQL stores: their
// tables have the same columns, so one mapping serves both dialects.

import type { PrivacySettings, Visibility } from "../proto/types.ts";
import { VISIBILITY } from "../proto/schema.ts";
import type { AuditEntry, NewAuditEntry, NewReport, ReportedCopy, ReportRecord, UserOrigin, UserRecord } from "./safety-types.ts";

export interface UserRow {
  id: string;
  createdAt: number;
  origin: string;
  bannedAt: number | null;
  banReason: string | null;
}

export function userRecord(r: UserRow): UserRecord {
  return { id: r.id, createdAt: r.createdAt, origin: r.origin as UserOrigin, bannedAt: r.bannedAt, banReason: r.banReason };
}

export interface PrivacyRow {
  lastSeen: string;
  online: string;
  groupAdd: string;
  readReceipts: boolean;
}

const visibility = (v: string): Visibility => ((VISIBILITY as readonly string[]).includes(v) ? (v as Visibility) : "nobody");

/** An unknown stored value reads as the most private one. */
export function privacyRecord(r: PrivacyRow): PrivacySettings {
  return { lastSeen: visibility(r.lastSeen), online: visibility(r.online), groupAdd: visibility(r.groupAdd), readReceipts: r.readReceipts };
}

export interface ReportRow {
  id: number;
  reporter: string;
  user: string;
  convId: string | null;
  seq: number | null;
  reason: string;
  messages: string;
  at: number;
}

interface CopyJson {
  conv: string;
  seq: number;
  from: string;
  ts: number;
  kind: number;
  body: string;
}

export function reportRow(r: NewReport): Omit<ReportRow, "id"> {
  const messages: CopyJson[] = r.messages.map((m) => ({ conv: m.conv, seq: m.seq, from: m.from, ts: m.ts, kind: m.kind, body: Buffer.from(m.body).toString("base64") }));
  return { reporter: r.reporter, user: r.user, convId: r.conv, seq: r.seq, reason: r.reason, messages: JSON.stringify(messages), at: r.at };
}

export function reportRecord(r: ReportRow): ReportRecord {
  const copies = JSON.parse(r.messages) as CopyJson[];
  const messages: ReportedCopy[] = copies.map((m) => ({ ...m, body: new Uint8Array(Buffer.from(m.body, "base64")) }));
  return { id: r.id, reporter: r.reporter, user: r.user, conv: r.convId, seq: r.seq, reason: r.reason, messages, at: r.at };
}

export interface AuditRow {
  id: number;
  at: number;
  admin: string;
  device: string;
  action: string;
  target: string;
  status: number;
  details: string;
}

export function auditRow(e: NewAuditEntry): Omit<AuditRow, "id"> {
  return { ...e, details: JSON.stringify(e.details) };
}

export function auditRecord(r: AuditRow): AuditEntry {
  return { ...r, details: JSON.parse(r.details) as Record<string, unknown> };
}

/** What a LIKE pattern matching `query` anywhere looks like, with its wildcards escaped (ESCAPE '\'). */
export function containsPattern(query: string): string {
  return `%${query.replace(/[\\%_]/g, (c) => "\\" + c)}%`;
}

/** Unique, in first-seen order. */
export const distinct = (xs: string[]): string[] => [...new Set(xs)];

// The columns the stores select for invite links, join requests and removed messages, named as
// their records are. Given either dialect's table, they keep its column types for drizzle's
// result types.

export function linkColumns<T extends Record<"token" | "convId" | "by" | "at" | "approval" | "revokedAt", unknown>>(
  t: T,
): { token: T["token"]; conv: T["convId"]; by: T["by"]; at: T["at"]; approval: T["approval"]; revokedAt: T["revokedAt"] } {
  return { token: t.token, conv: t.convId, by: t.by, at: t.at, approval: t.approval, revokedAt: t.revokedAt };
}

export function requestColumns<T extends Record<"convId" | "user" | "token" | "at", unknown>>(t: T): { conv: T["convId"]; user: T["user"]; token: T["token"]; at: T["at"] } {
  return { conv: t.convId, user: t.user, token: t.token, at: t.at };
}

export function removedColumns<T extends Record<"convId" | "seq" | "sender" | "media" | "by" | "reason" | "at", unknown>>(
  t: T,
): { conv: T["convId"]; seq: T["seq"]; sender: T["sender"]; media: T["media"]; by: T["by"]; reason: T["reason"]; at: T["at"] } {
  return { conv: t.convId, seq: t.seq, sender: t.sender, media: t.media, by: t.by, reason: t.reason, at: t.at };
}
