// Media commands: upload slots and download URLs. The bytes never pass through the actors.

import { Method } from "../../proto/codes.ts";
import type { MediaRecord } from "../../storage/types.ts";
import type { ConversationActor } from "../conversation-actor.ts";
import type { Node } from "../node.ts";
import type { Command } from "./command.ts";

export const mediaUpload: Command<typeof Method.MediaUpload> = {
  rate: "mediaUpload",
  run({ node, session: s }, params) {
    return node.ctx.media.requestUpload(s.user, params);
  },
};

export const mediaUrl: Command<typeof Method.MediaUrl> = {
  rate: "mediaUrl",
  run({ node, session: s }, { media }) {
    // Media of a message removed by moderation is no longer served.
    const may = async (conv: string) => ((await node.conversation(conv))?.isMember(s.user) ?? false) && !(await node.ctx.safety.removed.isRemovedMedia(conv, media));
    return node.ctx.media.downloadUrl(s.user, media, may);
  },
};

/** Makes an image's thumbnail after its message went out, then records it in the conversation. */
export async function thumbnail(node: Node, conv: ConversationActor, media: MediaRecord, convId: string, seq: number, exp?: number): Promise<void> {
  try {
    // A disappearing message's media goes with it (the thumbnail with the media).
    if (exp !== undefined) await node.ctx.media.scheduleDeletion(media.id, exp);
    const thumb = await node.ctx.media.makeThumbnail(media, convId);
    if (thumb) await conv.announceThumbnail(media.owner, media.id, thumb, seq);
  } catch (err) {
    node.ctx.log.warn({ err, media: media.id }, "thumbnail failed");
  }
}
