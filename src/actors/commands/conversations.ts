// Conversation commands: listing, reading one, opening a direct conversation, and the group
// commands (every membership rule itself lives in the conversation actor and
// storage/membership-rules.ts; who may be added, and who must be invited, in src/safety).

import { randomUUID } from "node:crypto";
import { ConvType, ErrorCode, Method } from "../../proto/codes.ts";
import { CommandError } from "../../proto/command-error.ts";
import type { ConvInfo, GroupAddResult, GroupCreateResult, MembershipResult } from "../../proto/types.ts";
import type { Command } from "./command.ts";
import { adminOf, admission, invite, visibleInfo } from "./guards.ts";
import { memberOf } from "./membership.ts";

function newConversationId(): string {
  return "c" + randomUUID().replaceAll("-", "");
}

export const convList: Command<typeof Method.ConvList> = {
  rate: "conversations",
  async run({ node, session: s, user }) {
    const convs: ConvInfo[] = [];
    for (const id of user.conversations()) {
      const a = await node.conversation(id);
      if (a?.isMember(s.user)) convs.push(await visibleInfo(node, s.user, a.info()));
    }
    return { convs };
  },
};

export const convGet: Command<typeof Method.ConvGet> = {
  rate: "conversations",
  async run({ node, session: s }, { conv }) {
    return visibleInfo(node, s.user, (await memberOf(node, conv, s.user)).info());
  },
};

export const directOpen: Command<typeof Method.DirectOpen> = {
  rate: "directOpen",
  async run({ node, session: s }, { user }) {
    if (user === s.user) throw new CommandError(ErrorCode.InvalidParams, "user: cannot open a direct conversation with yourself");
    const { safety } = node.ctx;
    await safety.requireKnown([user]);
    await safety.requireNotBlocked(s.user, user);
    const { id, created } = await node.ctx.metadata.openDirect(
      { id: newConversationId(), type: ConvType.Direct, title: "", createdBy: s.user, createdAt: Date.now() },
      s.user,
      user,
    );
    const a = await memberOf(node, id, s.user);
    // Opening it is the opener's choice, not the other's (presence, src/safety/policy.ts).
    await safety.consent(id, s.user);
    if (created) await a.announceDirect();
    return visibleInfo(node, s.user, a.info());
  },
};

export const groupCreate: Command<typeof Method.GroupCreate> = {
  rate: "groupCreate",
  async run({ node, session: s }, { title, members }): Promise<GroupCreateResult> {
    const { ctx } = node;
    // Those whose settings do not let the creator add them are invited instead.
    const { add, invite: invited } = await admission(node, s.user, [...new Set(members)].filter((u) => u !== s.user));
    const users = [s.user, ...add];
    if (users.length > ctx.config.limits.maxGroupSize) {
      throw new CommandError(ErrorCode.GroupFull, `a group holds at most ${ctx.config.limits.maxGroupSize} members`);
    }
    const id = newConversationId();
    await ctx.metadata.createConversation(
      { id, type: ConvType.Group, title, createdBy: s.user, createdAt: Date.now() },
      users.map((user) => ({ user, admin: user === s.user, joinedSeq: 1, delivered: 0, read: 0 })),
    );
    await ctx.safety.consent(id, s.user);
    const a = (await node.conversation(id))!;
    await a.announceCreated(s.user);
    await invite(node, a, s.user, invited);
    return { ...a.info(), invited };
  },
};

export const groupRename: Command<typeof Method.GroupRename> = {
  rate: "groupChange",
  async run({ node, session: s }, { conv, title }): Promise<MembershipResult> {
    return { seq: await (await memberOf(node, conv, s.user)).rename(s.user, title) };
  },
};

export const groupAdd: Command<typeof Method.GroupAdd> = {
  rate: "groupChange",
  async run({ node, session: s }, { conv, users }): Promise<GroupAddResult> {
    const a = await adminOf(node, conv, s.user);
    const candidates = [...new Set(users)].filter((u) => !a.isMember(u));
    if (candidates.length === 0) throw new CommandError(ErrorCode.Conflict, "every user is already a member");
    // Those whose settings do not let this admin add them are invited instead.
    const { add, invite: invited } = await admission(node, s.user, candidates);
    const seq = add.length > 0 ? await a.add(s.user, add) : 0;
    await invite(node, a, s.user, invited);
    return { seq, invited };
  },
};

export const groupRemove: Command<typeof Method.GroupRemove> = {
  rate: "groupChange",
  async run({ node, session: s }, { conv, user }): Promise<MembershipResult> {
    const seq = await (await memberOf(node, conv, s.user)).remove(s.user, user);
    await node.ctx.safety.withdrawConsent(conv, user);
    return { seq };
  },
};

export const groupSetAdmin: Command<typeof Method.GroupSetAdmin> = {
  rate: "groupChange",
  async run({ node, session: s }, { conv, user, admin }): Promise<MembershipResult> {
    return { seq: await (await memberOf(node, conv, s.user)).setAdmin(s.user, user, admin) };
  },
};
