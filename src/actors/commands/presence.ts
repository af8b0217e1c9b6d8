// PRESENCE_SUBSCRIBE: which users a device watches.

import { ErrorCode, Method } from "../../proto/codes.ts";
import { CommandError } from "../../proto/command-error.ts";
import type { PresenceSubscribeResult } from "../../proto/types.ts";
import type { Command } from "./command.ts";

export const presenceSubscribe: Command<typeof Method.PresenceSubscribe> = {
  rate: "presence",
  async run({ node, session: s }, { users }): Promise<PresenceSubscribeResult> {
    const { ctx } = node;
    if (users.length > ctx.config.limits.maxPresenceWatch) {
      throw new CommandError(ErrorCode.InvalidParams, `users: at most ${ctx.config.limits.maxPresenceWatch}`);
    }
    // Only people who share a conversation with the watcher are visible; others look offline.
    const visible: string[] = [];
    for (const u of new Set(users)) if (u === s.user || (await ctx.metadata.sharesConversation(s.user, u))) visible.push(u);
    node.watch(s, visible);
    const known = new Map((await ctx.presence.get(visible)).map((x) => [x.user, x]));
    return { presence: users.map((u) => known.get(u) ?? { user: u, online: false, lastSeen: 0 }) };
  },
};
