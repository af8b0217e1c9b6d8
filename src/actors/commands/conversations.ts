// Conversation commands: listing, reading one, opening a direct conversation, and the group
// commands (every membership rule itself lives in the conversation actor and
// storage/membership-rules.ts).

import { randomUUID } from "node:crypto";
import { ConvType, ErrorCode, Method } from "../../proto/codes.ts";
import { CommandError } from "../../proto/command-error.ts";
import type { ConvInfo, MembershipResult } from "../../proto/types.ts";
import type { Command } from "./command.ts";
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
      if (a?.isMember(s.user)) convs.push(a.info());
    }
    return { convs };
  },
};

export const convGet: Command<typeof Method.ConvGet> = {
  rate: "conversations",
  async run({ node, session: s }, { conv }) {
    return (await memberOf(node, conv, s.user)).info();
  },
};

export const directOpen: Command<typeof Method.DirectOpen> = {
  rate: "directOpen",
  async run({ node, session: s }, { user }) {
    if (user === s.user) throw new CommandError(ErrorCode.InvalidParams, "user: cannot open a direct conversation with yourself");
    const { id, created } = await node.ctx.metadata.openDirect(
      { id: newConversationId(), type: ConvType.Direct, title: "", createdBy: s.user, createdAt: Date.now() },
      s.user,
      user,
    );
    const a = await memberOf(node, id, s.user);
    if (created) a.announceDirect();
    return a.info();
  },
};

export const groupCreate: Command<typeof Method.GroupCreate> = {
  rate: "groupCreate",
  async run({ node, session: s }, { title, members }) {
    const { ctx } = node;
    const users = [...new Set([s.user, ...members])];
    if (users.length > ctx.config.limits.maxGroupSize) {
      throw new CommandError(ErrorCode.GroupFull, `a group holds at most ${ctx.config.limits.maxGroupSize} members`);
    }
    const id = newConversationId();
    await ctx.metadata.createConversation(
      { id, type: ConvType.Group, title, createdBy: s.user, createdAt: Date.now() },
      users.map((user) => ({ user, admin: user === s.user, joinedSeq: 1, delivered: 0, read: 0 })),
    );
    const a = (await node.conversation(id))!;
    await a.announceCreated(s.user);
    return a.info();
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
  async run({ node, session: s }, { conv, users }): Promise<MembershipResult> {
    return { seq: await (await memberOf(node, conv, s.user)).add(s.user, users) };
  },
};

export const groupRemove: Command<typeof Method.GroupRemove> = {
  rate: "groupChange",
  async run({ node, session: s }, { conv, user }): Promise<MembershipResult> {
    return { seq: await (await memberOf(node, conv, s.user)).remove(s.user, user) };
  },
};

export const groupSetAdmin: Command<typeof Method.GroupSetAdmin> = {
  rate: "groupChange",
  async run({ node, session: s }, { conv, user, admin }): Promise<MembershipResult> {
    return { seq: await (await memberOf(node, conv, s.user)).setAdmin(s.user, user, admin) };
  },
};
