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
    // What each user's privacy settings and blocks let this device see (src/safety/policy.ts),
    // decided before the node fans out pushes to it; hidden parts read as offline and unknown.
    const watched = [...new Set(users)];
    const seen = await ctx.safety.presence.watch(s, watched);
    node.watch(s, watched);
    // Answered once the bus has this node's subscriptions (in a cluster, a change published by
    // another edge after the reply is heard), as for the commands that change membership.
    await ctx.bus.ready();
    return { presence: users.map((u) => seen.get(u)!) };
  },
};
