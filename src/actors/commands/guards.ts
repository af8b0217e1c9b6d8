// What the conversation commands ask the safety service before they act: whether users may be
// added to a group or must be invited, who is an admin, and how a conversation looks to one
// member (read markers hidden where read receipts are off). The rules themselves live in
// src/safety/policy.ts.

import { ConvType, ErrorCode, PushKind } from "../../proto/codes.ts";
import { CommandError } from "../../proto/command-error.ts";
import type { ConvInfo, InvitationPush } from "../../proto/types.ts";
import type { ConversationActor } from "../conversation-actor.ts";
import type { Node } from "../node.ts";
import { memberOf } from "./membership.ts";

/**
 * Splits the users `adder` names for a group into those added at once and those whose settings
 * ask for an invitation. Refuses Blocked (1104) if either blocked the other, and NotFound (1100)
 * for unknown users when the registry is strict: then nobody is added or invited.
 */
export async function admission(node: Node, adder: string, users: string[]): Promise<{ add: string[]; invite: string[] }> {
  const { safety } = node.ctx;
  await safety.requireKnown(users);
  return safety.groupAdmission(adder, users);
}

/** Records invitations to group `a` from `by` and tells each invited user's devices. */
export async function invite(node: Node, a: ConversationActor, by: string, users: string[]): Promise<void> {
  const { safety } = node.ctx;
  const at = Date.now();
  for (const user of users) {
    if (!(await safety.store.invite({ conv: a.id, user, by, at }))) continue;
    const push: InvitationPush = { invitation: { conv: a.id, title: a.info().title, by, at }, removed: false };
    safety.notify(user, PushKind.Invitation, push);
  }
}

/** The group's actor when `user` is one of its admins; refuses otherwise. */
export async function adminOf(node: Node, conv: string, user: string): Promise<ConversationActor> {
  const a = await memberOf(node, conv, user);
  if (a.type !== ConvType.Group) throw new CommandError(ErrorCode.InvalidParams, "not a group conversation");
  if (!a.info().members.some((m) => m.user === user && m.admin)) throw new CommandError(ErrorCode.Forbidden, "only group admins may do this");
  return a;
}

/** The other member of a direct conversation (undefined for a conversation with oneself). */
export function peerOf(a: ConversationActor, user: string): string | undefined {
  return a.otherMember(user);
}

/** A conversation as `viewer` may see it: in a direct one with reads hidden, the other's read marker reads 0. */
export async function visibleInfo(node: Node, viewer: string, info: ConvInfo): Promise<ConvInfo> {
  if (info.type !== ConvType.Direct) return info;
  const peer = info.members.find((m) => m.user !== viewer);
  if (!peer || !(await node.ctx.safety.readsHidden(viewer, peer.user))) return info;
  return { ...info, members: info.members.map((m) => (m === peer ? { ...m, read: 0 } : m)) };
}
