// The membership check every conversation command starts with.

import { notFound, notMember } from "../../proto/command-error.ts";
import type { ConversationActor } from "../conversation-actor.ts";
import type { Node } from "../node.ts";

/** The conversation's actor when `user` is a member; refuses NotFound or Forbidden otherwise. */
export async function memberOf(node: Node, conv: string, user: string): Promise<ConversationActor> {
  const a = await node.conversation(conv);
  if (!a) throw notFound();
  if (!a.isMember(user)) throw notMember();
  return a;
}
