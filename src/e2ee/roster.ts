// Who holds which leaf of a conversation's MLS group, as the server tracks it from the commits it
// relays, and how that must stay in step with the conversation's membership: the rules in one
// place, pure, for the service and its tests.
//
//  - A commit applies its Removes, then its Adds (RFC 9420 §12.3); an Add takes the leftmost
//    blank leaf, or a new one on the right (§7.7; truncating blank leaves on the right never
//    moves a leaf, so an array of leaves with blanks as null follows the tree exactly).
//  - A leaf is stale when its user is no longer a member or its device was revoked: the next
//    commit must remove every stale leaf, and no application message is accepted meanwhile.
//  - A member's device that holds a KeyPackage and has no leaf is missing: any member may add it.

import { ErrorCode } from "../proto/codes.ts";
import { CommandError } from "../proto/command-error.ts";
import type { DeviceRef } from "../proto/types.ts";
import { deviceKey } from "../storage/e2ee-rows.ts";
import type { DeviceState } from "../storage/e2ee-types.ts";

export { deviceKey };

export type Leaves = readonly (DeviceRef | null)[];

/** The leaf `device` holds, or -1. */
export function leafOf(leaves: Leaves, device: DeviceRef): number {
  return leaves.findIndex((l) => l !== null && l.user === device.user && l.device === device.device);
}

/** The leaves after a commit's removes and adds; refuses removes of blank leaves and adds of devices already present. */
export function applyCommit(leaves: Leaves, removes: number[], adds: DeviceRef[]): (DeviceRef | null)[] {
  const next = [...leaves];
  for (const leaf of removes) {
    if (!Number.isInteger(leaf) || leaf < 0 || leaf >= next.length || next[leaf] === null) throw new CommandError(ErrorCode.InvalidMls, `commit: leaf ${leaf} is blank`);
    next[leaf] = null;
  }
  for (const d of adds) {
    if (leafOf(next, d) >= 0) throw new CommandError(ErrorCode.Conflict, `commit: ${deviceKey(d)} is in the group already`);
    const blank = next.indexOf(null);
    if (blank >= 0) next[blank] = d;
    else next.push(d);
  }
  while (next.length > 0 && next[next.length - 1] === null) next.pop();
  return next;
}

/** Leaves whose user left the conversation or whose device was revoked. */
export function staleLeaves(leaves: Leaves, isMember: (user: string) => boolean, revoked: ReadonlySet<string>): number[] {
  const out: number[] = [];
  leaves.forEach((l, i) => {
    if (l && (!isMember(l.user) || revoked.has(deviceKey(l)))) out.push(i);
  });
  return out;
}

/** Revoked devices among `states`, by deviceKey. */
export function revokedSet(states: DeviceState[]): Set<string> {
  return new Set(states.filter((s) => s.revoked).map(deviceKey));
}

/** Members' devices that could join (not revoked, holding a KeyPackage) and have no leaf. */
export function missingDevices(leaves: Leaves, members: readonly string[], states: DeviceState[]): DeviceRef[] {
  const inGroup = new Set(leaves.filter((l): l is DeviceRef => l !== null).map(deviceKey));
  const isMember = new Set(members);
  return states.filter((s) => isMember.has(s.user) && !s.revoked && s.claimable && !inGroup.has(deviceKey(s))).map((s) => ({ user: s.user, device: s.device }));
}
