// Messaging commands: send, receipts, typing, history.

import { ErrorCode, MessageKind, Method } from "../../proto/codes.ts";
import { CommandError, notMember } from "../../proto/command-error.ts";
import type { HistoryResult, SendResult, WireMessage } from "../../proto/types.ts";
import type { DeviceSession } from "../device-session.ts";
import type { Node } from "../node.ts";
import type { Command } from "./command.ts";
import { thumbnail } from "./media.ts";
import { memberOf } from "./membership.ts";

export const send: Command<typeof Method.Send> = {
  rate: "send",
  run({ node, session: s, acceptedAt }, { conv, cid, kind, body, media, resend }) {
    const { limits } = node.ctx.config;
    if (body.length > limits.maxBodyBytes) throw new CommandError(ErrorCode.BodyTooLarge, `body exceeds ${limits.maxBodyBytes} bytes`);
    if (media && kind !== MessageKind.Media) throw new CommandError(ErrorCode.InvalidParams, "media: only messages of kind media carry an upload");
    // Copy: the frame's buffer belongs to the socket layer.
    const copy = body.slice();
    // The hot path: a loaded conversation and no media take no promise until the store's.
    const loaded = media ? undefined : node.loadedConversation(conv);
    if (loaded) {
      if (!loaded.isMember(s.user)) throw notMember();
      return loaded.send(s.user, s.device, cid, kind, copy, acceptedAt, { resend });
    }
    return sendSlow(node, s, conv, cid, kind, copy, media, resend, acceptedAt);
  },
};

/** SEND to a conversation not in memory yet, or with media to check first. */
async function sendSlow(node: Node, s: DeviceSession, conv: string, cid: string, kind: number, body: Uint8Array, media: string | undefined, resend: boolean | undefined, acceptedAt: number): Promise<SendResult> {
  const a = await memberOf(node, conv, s.user);
  const upload = media ? await node.ctx.media.verifyForSend(s.user, media, conv) : null;
  const ack = await a.send(s.user, s.device, cid, kind, body, acceptedAt, { media, resend });
  if (upload && !ack.dup) void thumbnail(node, a, upload, conv, ack.seq);
  return ack;
}

export const receipt: Command<typeof Method.Receipt> = {
  rate: "receipt",
  async run({ node, session: s }, { conv, type, seq }) {
    await (await memberOf(node, conv, s.user)).receipt(s.user, s.device, type, seq);
    return {};
  },
};

export const typing: Command<typeof Method.Typing> = {
  rate: "typing",
  async run({ node, session: s, acceptedAt }, { conv, on }) {
    (await memberOf(node, conv, s.user)).typing(s.user, s.device, on, acceptedAt);
    return {};
  },
};

export const history: Command<typeof Method.History> = {
  rate: "history",
  async run({ node, session: s }, { conv, before, limit = 50 }): Promise<HistoryResult> {
    const { ctx } = node;
    const joined = (await memberOf(node, conv, s.user)).joinedSeq(s.user) ?? 1;
    // A member reads from the message that added them; earlier history was never theirs.
    const rows = (await ctx.messages.history(conv, before ?? Number.MAX_SAFE_INTEGER, limit + 1)).filter((m) => m.seq >= joined);
    // One reply frame stays well below the socket buffer limit, however large the bodies.
    const budget = Math.min(1 << 20, ctx.config.limits.socketBufferBytes / 4);
    const messages: WireMessage[] = [];
    let bytes = 0;
    for (const m of rows.slice(0, limit)) {
      if (messages.length > 0 && bytes + m.body.length > budget) break;
      messages.push(m);
      bytes += m.body.length;
    }
    return { messages, more: rows.length > messages.length };
  },
};
