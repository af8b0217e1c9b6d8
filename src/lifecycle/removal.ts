// Removing a message from a conversation, the one way both removals go: deletion for everyone
// (DELETE, by its sender or a group admin) and moderation (the admin API). Either way the removal
// is recorded (src/safety/removed-messages.ts: every node serves a tombstone from then on), every
// node is told, and a MessageRemoved system message tells devices to drop their copy.
//
// A deletion for everyone also erases: the message's content is overwritten in the message store
// (and the bodies of its edits, which carried it too), and its media is deleted. Moderation keeps
// the stored row for the moderators until retention prunes it, and only stops serving it.

import type { ConversationActor } from "../actors/conversation-actor.ts";
import type { NodeContext } from "../actors/context.ts";
import { subjects } from "../bus/subjects.ts";
import { MessageKind } from "../proto/codes.ts";
import { tombstone } from "../safety/removed-messages.ts";
import type { StoredMessage } from "../storage/types.ts";

export interface Removal {
  /** Who removes it: the sender, a group admin, or the admin API's user for moderation. */
  by: string;
  /** What the system message names as the remover: `by`, or "" for the service's moderators. */
  announceAs: string;
  reason: string;
  /** Erase the content from the stores and delete the media (deletion for everyone). */
  erase: boolean;
}

/** Rows read per step while looking for a message's edits. */
const PAGE = 200;
/** Clocks of the nodes that accepted the edits may differ this much from the one of the original. */
const CLOCK_SLACK_MS = 60_000;

/**
 * Removes `m` (as stored: its media and sender known) from conversation `a`. Resolves with the
 * seq of the MessageRemoved system message, or 0 when the message had been removed already.
 */
export async function removeMessage(ctx: NodeContext, a: ConversationActor, m: StoredMessage, r: Removal): Promise<number> {
  const media = m.media ?? null;
  // Recorded first: from here on no node serves the content, whatever the store still holds.
  const fresh = await ctx.safety.store.removeMessage({ conv: m.conv, seq: m.seq, sender: m.from, media, by: r.by, reason: r.reason, at: Date.now() });
  if (r.erase) {
    // In the conversation's turn, so that no edit of it runs in between and writes content back.
    await a.call(() => erase(ctx, m));
    if (media) await ctx.media.deleteMedia([media]);
  }
  if (!fresh) return 0;
  ctx.bus.publish(subjects.safety, { t: "removed", conv: m.conv, seq: m.seq, media });
  // Answered once the bus has it for every node: another edge serves the tombstone by then.
  await ctx.bus.ready();
  return a.announceRemoval(m.seq, r.announceAs);
}

/**
 * Overwrites the message, and every edit of it, with a tombstone in the message store. Edits come
 * after it and within the edit window of its time, so the search stops there.
 */
async function erase(ctx: NodeContext, m: StoredMessage): Promise<void> {
  await ctx.messages.rewrite(tombstone(m));
  const until = m.ts + ctx.config.messages.editWindowSec * 1000 + CLOCK_SLACK_MS;
  const last = await ctx.messages.lastSeq(m.conv);
  for (let after = m.seq; after < last; ) {
    const rows = await ctx.messages.range(m.conv, after, PAGE);
    if (rows.length === 0) return;
    for (const e of rows) {
      if (e.kind === MessageKind.Edit && e.ref === m.seq) await ctx.messages.rewrite(tombstone(e));
      if (e.ts > until && e.id !== 0n) return;
    }
    after = rows[rows.length - 1]!.seq;
  }
}
