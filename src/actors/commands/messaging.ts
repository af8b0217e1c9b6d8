// Messaging commands: send, receipts, typing, history.

import { ConvType, ErrorCode, MessageKind, Method } from "../../proto/codes.ts";
import { CommandError } from "../../proto/command-error.ts";
import type { HistoryResult, WireMessage } from "../../proto/types.ts";
import type { Command } from "./command.ts";
import { thumbnail } from "./media.ts";
import { peerOf } from "./guards.ts";
import { memberOf } from "./membership.ts";

export const send: Command<typeof Method.Send> = {
  rate: "send",
  async run({ node, session: s, acceptedAt }, { conv, cid, kind, body, media, resend }) {
    const { ctx } = node;
    if (body.length > ctx.config.limits.maxBodyBytes) {
      throw new CommandError(ErrorCode.BodyTooLarge, `body exceeds ${ctx.config.limits.maxBodyBytes} bytes`);
    }
    if (media && kind !== MessageKind.Media) throw new CommandError(ErrorCode.InvalidParams, "media: only messages of kind media carry an upload");
    if (kind === MessageKind.Removed) throw new CommandError(ErrorCode.InvalidParams, "kind: removed messages are written by the server");
    const a = await memberOf(node, conv, s.user);
    const peer = a.type === ConvType.Direct ? peerOf(a, s.user) : undefined;
    if (peer) await ctx.safety.requireNotBlocked(s.user, peer);
    const upload = media ? await ctx.media.verifyForSend(s.user, media, conv) : null;
    // Copy: the frame's buffer belongs to the socket layer.
    const ack = await a.send(s.user, s.device, cid, kind, body.slice(), acceptedAt, { media, resend });
    if (upload && !ack.dup) void thumbnail(node, a, upload, conv, ack.seq);
    // Writing in a conversation makes it the sender's choice (presence, src/safety/policy.ts).
    ctx.safety.consent(conv, s.user).catch((err: unknown) => ctx.log.warn({ err, conv }, "recording consent failed"));
    return ack;
  },
};

export const receipt: Command<typeof Method.Receipt> = {
  rate: "receipt",
  async run({ node, session: s }, { conv, type, seq }) {
    const a = await memberOf(node, conv, s.user);
    // In a direct conversation either member may have turned read receipts off (both ways).
    const peer = a.type === ConvType.Direct ? peerOf(a, s.user) : undefined;
    await a.receipt(s.user, type, seq, peer !== undefined && (await node.ctx.safety.readsHidden(s.user, peer)));
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
