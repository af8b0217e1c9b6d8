// The group invariants, in one place for every metadata backend. Each backend reads the
// members inside its transaction (under whatever lock makes that read stable), asks these
// rules, and writes only if they pass.

import { MembershipError, type MemberRecord } from "./types.ts";

export interface MemberRole {
  user: string;
  admin: boolean;
}

/** The candidates not yet present; throws group-full if adding them would exceed `maxMembers`. */
export function membersToAdd(present: MemberRole[], candidates: MemberRecord[], maxMembers: number): MemberRecord[] {
  const have = new Set(present.map((r) => r.user));
  const fresh = candidates.filter((m) => !have.has(m.user));
  if (have.size + fresh.length > maxMembers) throw new MembershipError("group-full", `a group holds at most ${maxMembers} members`);
  return fresh;
}

/** Throws unless `user` is a member who may leave: the only admin stays while others remain. */
export function checkRemoval(present: MemberRole[], user: string): void {
  const target = present.find((r) => r.user === user);
  if (!target) throw new MembershipError("not-member", "not a member");
  if (target.admin && present.length > 1 && present.filter((r) => r.admin).length === 1) {
    throw new MembershipError("last-admin", "the last admin must make another member admin before leaving");
  }
}

/** Throws unless `user` is a member whose admin flag may become `admin`: a group keeps one admin. */
export function checkAdminChange(present: MemberRole[], user: string, admin: boolean): void {
  if (!present.some((r) => r.user === user)) throw new MembershipError("not-member", "not a member");
  if (!admin && !present.some((r) => r.admin && r.user !== user)) throw new MembershipError("last-admin", "a group keeps at least one admin");
}
