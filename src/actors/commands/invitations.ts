// Joining a group by one's own choice: invitations (sent instead of adding a user whose settings
// ask for one), and invite links (a token an admin hands out; revocable; optionally each join
// waits for an admin's approval).

import { randomBytes } from "node:crypto";
import { ErrorCode, Method, PushKind } from "../../proto/codes.ts";
import { CommandError, notFound } from "../../proto/command-error.ts";
import type { Invitation, InvitationPush, InviteLink, JoinRequest, JoinRequestPush, LinkJoinResult, MembershipResult } from "../../proto/types.ts";
import type { InviteLinkRecord } from "../../storage/safety-types.ts";
import type { ConversationActor } from "../conversation-actor.ts";
import type { Node } from "../node.ts";
import type { Command } from "./command.ts";
import { adminOf } from "./guards.ts";

const noInvitation = () => new CommandError(ErrorCode.NotFound, "no invitation to this conversation");
const noLink = () => new CommandError(ErrorCode.NotFound, "no such invite link (unknown or revoked)");

function linkInfo(l: InviteLinkRecord): InviteLink {
  return { token: l.token, conv: l.conv, by: l.by, at: l.at, approval: l.approval };
}

/** Adds `user` to group `a` as their own choice; the invitation or request is put back if that fails. */
async function join(node: Node, a: ConversationActor, user: string, by: string, undo: () => Promise<unknown>): Promise<number> {
  if (a.isMember(user)) throw new CommandError(ErrorCode.Conflict, "already a member");
  let seq: number;
  try {
    seq = by === user ? await a.add(user, [user], { join: true }) : await a.add(by, [user]);
  } catch (e) {
    await undo();
    throw e;
  }
  await node.ctx.safety.consent(a.id, user);
  return seq;
}

/** Tells the group's admins that a join request arrived or was answered. */
function tellAdmins(node: Node, a: ConversationActor, request: JoinRequest, removed: boolean): void {
  for (const m of a.info().members) if (m.admin) node.ctx.safety.notify(m.user, PushKind.JoinRequest, { request, removed } satisfies JoinRequestPush);
}

export const invitationList: Command<typeof Method.InvitationList> = {
  rate: "groupChange",
  async run({ node, session: s }) {
    const { safety, metadata } = node.ctx;
    const invitations: Invitation[] = [];
    for (const i of await safety.store.listInvitations(s.user)) {
      const conv = await metadata.getConversation(i.conv);
      if (conv) invitations.push({ conv: i.conv, title: conv.title, by: i.by, at: i.at });
    }
    return { invitations };
  },
};

export const invitationAccept: Command<typeof Method.InvitationAccept> = {
  rate: "groupChange",
  async run({ node, session: s }, { conv }): Promise<MembershipResult> {
    const { safety } = node.ctx;
    const inv = await safety.store.takeInvitation(conv, s.user);
    if (!inv) throw noInvitation();
    const a = await node.conversation(conv);
    if (!a) throw notFound();
    const seq = await join(node, a, s.user, s.user, () => safety.store.invite(inv));
    safety.notify(s.user, PushKind.Invitation, { invitation: { conv, title: a.info().title, by: inv.by, at: inv.at }, removed: true } satisfies InvitationPush);
    return { seq };
  },
};

export const invitationDecline: Command<typeof Method.InvitationDecline> = {
  rate: "groupChange",
  async run({ node, session: s }, { conv }) {
    const { safety, metadata } = node.ctx;
    const inv = await safety.store.takeInvitation(conv, s.user);
    if (!inv) throw noInvitation();
    const title = (await metadata.getConversation(conv))?.title ?? "";
    safety.notify(s.user, PushKind.Invitation, { invitation: { conv, title, by: inv.by, at: inv.at }, removed: true } satisfies InvitationPush);
    return {};
  },
};

export const linkCreate: Command<typeof Method.LinkCreate> = {
  rate: "groupChange",
  async run({ node, session: s }, { conv, approval = false }): Promise<InviteLink> {
    await adminOf(node, conv, s.user);
    // 144 random bits: a link cannot be guessed, only handed out.
    const link: InviteLinkRecord = { token: randomBytes(18).toString("base64url"), conv, by: s.user, at: Date.now(), approval, revokedAt: null };
    await node.ctx.safety.store.createLink(link);
    return linkInfo(link);
  },
};

export const linkList: Command<typeof Method.LinkList> = {
  rate: "groupChange",
  async run({ node, session: s }, { conv }) {
    await adminOf(node, conv, s.user);
    const links = await node.ctx.safety.store.listLinks(conv);
    return { links: links.filter((l) => l.revokedAt === null).map(linkInfo) };
  },
};

export const linkRevoke: Command<typeof Method.LinkRevoke> = {
  rate: "groupChange",
  async run({ node, session: s }, { conv, token }) {
    await adminOf(node, conv, s.user);
    if (!(await node.ctx.safety.store.revokeLink(conv, token, Date.now()))) throw noLink();
    return {};
  },
};

export const linkJoin: Command<typeof Method.LinkJoin> = {
  rate: "groupChange",
  async run({ node, session: s }, { token }): Promise<LinkJoinResult> {
    const { safety } = node.ctx;
    const link = await safety.store.getLink(token);
    if (!link || link.revokedAt !== null) throw noLink();
    const a = await node.conversation(link.conv);
    if (!a) throw noLink();
    if (a.isMember(s.user)) throw new CommandError(ErrorCode.Conflict, "already a member");
    if (link.approval) {
      const request: JoinRequest = { conv: link.conv, user: s.user, at: Date.now() };
      if (await safety.store.requestJoin({ ...request, token })) tellAdmins(node, a, request, false);
      return { conv: link.conv, pending: true, seq: 0 };
    }
    return { conv: link.conv, pending: false, seq: await join(node, a, s.user, s.user, async () => {}) };
  },
};

export const joinRequestList: Command<typeof Method.JoinRequestList> = {
  rate: "groupChange",
  async run({ node, session: s }, { conv }) {
    await adminOf(node, conv, s.user);
    const requests: JoinRequest[] = (await node.ctx.safety.store.listJoinRequests(conv)).map((r) => ({ conv: r.conv, user: r.user, at: r.at }));
    return { requests };
  },
};

export const joinRequestAnswer: Command<typeof Method.JoinRequestAnswer> = {
  rate: "groupChange",
  async run({ node, session: s }, { conv, user, approve }): Promise<MembershipResult> {
    const { safety } = node.ctx;
    const a = await adminOf(node, conv, s.user);
    const req = await safety.store.takeJoinRequest(conv, user);
    if (!req) throw new CommandError(ErrorCode.NotFound, "no such join request");
    // The requester asked to join: approving adds them whatever their group-add setting says.
    const seq = approve ? await join(node, a, user, s.user, () => safety.store.requestJoin(req)) : 0;
    tellAdmins(node, a, { conv, user, at: req.at }, true);
    return { seq };
  },
};
