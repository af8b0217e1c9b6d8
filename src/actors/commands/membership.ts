// The membership check every conversation command starts with.

import { notFound, notMember } from "../../proto/command-error.ts";
import type { ConversationActor } from "../conversation-actor.ts";
import type { Node } from "../node.ts";

/** The conversation's actor when `user` is a member; refuses NotFound or Forbidden otherwise. */
export async function memberOf(node: Node, conv: string, user: string): Promise<ConversationActor> {
  const a = await node.conversation(conv);
  if (!a) throw notFound();
  // In a cluster, a member added through another node a moment ago is asked for again.
  if (!a.isMember(user) && !(await a.isMemberNow(user))) throw notMember();
  return a;
}
