// Messaging commands: send, receipts, typing, history.

import { ConvType, ErrorCode, MessageKind, Method } from "../../proto/codes.ts";
import { CommandError } from "../../proto/command-error.ts";
import type { HistoryResult, SendResult, WireMessage } from "../../proto/types.ts";
import type { ConversationActor } from "../conversation-actor.ts";
import type { DeviceSession } from "../device-session.ts";
import type { Node } from "../node.ts";
import type { Command } from "./command.ts";
import { MESSAGE_ROWS } from "../../lifecycle/page-rows.ts";
import { thumbnail } from "./media.ts";
import { peerOf } from "./guards.ts";
import { memberOf } from "./membership.ts";
import { checkLifecycleParams, sendEdit, sendForward, targetOf } from "./lifecycle.ts";

export const send: Command<typeof Method.Send> = {
  rate: "send",
  run({ node, session: s, acceptedAt }, p) {
    const { conv, cid, kind, body, media, resend, ref } = p;
    const { limits } = node.ctx.config;
    if (body.length > limits.maxBodyBytes) throw new CommandError(ErrorCode.BodyTooLarge, `body exceeds ${limits.maxBodyBytes} bytes`);
    // An encrypted message (kind Mls) may carry an upload too: the file, encrypted by the sender.
    if (media && kind !== MessageKind.Media && kind !== MessageKind.Mls) throw new CommandError(ErrorCode.InvalidParams, "media: only messages of kind media or mls carry an upload");
    if (kind === MessageKind.Removed) throw new CommandError(ErrorCode.InvalidParams, "kind: removed messages are written by the server");
    // `body` is the command's own copy, not a view of the socket's buffer: decodeCommand copies
    // every bin it reads (proto/codec.ts), so it may live on in the store's batch and in deliveries.
    // A message about another one (an edit, a reaction, a reply, a forward) is checked against it first.
    if (ref !== undefined || p.forward || kind === MessageKind.Edit || kind === MessageKind.Reaction) {
      checkLifecycleParams(p);
      const q = { ...p, body };
      if (kind === MessageKind.Edit) return admitted(node, s, q, () => sendEdit(node, s, q, acceptedAt));
      if (p.forward) return admitted(node, s, q, () => sendForward(node, s, q, acceptedAt));
      return sendSlow(node, s, conv, cid, kind, body, media, resend, acceptedAt, ref);
    }
    // The hot path takes no promise until the store's: a loaded conversation, no media, and
    // what the safety rules need already known (no block between the two of a direct
    // conversation, the sender's consent recorded).
    const loaded = media ? undefined : node.loadedConversation(conv);
    if (loaded && readyToSend(node, loaded, s.user) && node.ctx.e2ee.screen(loaded, s.user, s.device, kind, body, cid)) return loaded.send(s.user, s.device, cid, kind, body, acceptedAt, { resend });
    return sendSlow(node, s, conv, cid, kind, body, media, resend, acceptedAt);
  },
};

/**
 * Edits and forwards take paths of their own; in an end-to-end encrypted conversation they pass
 * the same checks as any message first (an edit in the clear is refused: edits, like reactions,
 * travel inside MLS messages there, with `ref`).
 */
async function admitted(node: Node, s: DeviceSession, p: { conv: string; cid: string; kind: number; body: Uint8Array }, then: () => Promise<SendResult>): Promise<SendResult> {
  await node.ctx.e2ee.admit(await memberOf(node, p.conv, s.user), s.user, s.device, p.kind, p.body, p.cid);
  return then();
}

/**
 * Whether a SEND from `user` may go straight to the loaded conversation: a member, and the
 * safety checks answerable from memory. Otherwise the slow path asks the stores.
 */
function readyToSend(node: Node, a: ConversationActor, user: string): boolean {
  // Not a member as far as this node knows: the slow path asks again (another node may have added them).
  if (!a.isMember(user)) return false;
  const { safety } = node.ctx;
  if (!safety.consentKnown(a.id, user)) return false;
  if (a.type !== ConvType.Direct) return true;
  const peer = peerOf(a, user);
  return peer === undefined || safety.knownNotBlocked(user, peer);
}

/** SEND to a conversation not in memory yet, with media to check first, or with a safety fact to look up. */
async function sendSlow(
  node: Node,
  s: DeviceSession,
  conv: string,
  cid: string,
  kind: number,
  body: Uint8Array,
  media: string | undefined,
  resend: boolean | undefined,
  acceptedAt: number,
  ref?: number,
): Promise<SendResult> {
  const { ctx } = node;
  const a = await memberOf(node, conv, s.user);
  const peer = a.type === ConvType.Direct ? peerOf(a, s.user) : undefined;
  if (peer) await ctx.safety.requireNotBlocked(s.user, peer);
  // End-to-end encryption: plain messages stay out of encrypted conversations, MLS ones pass its checks.
  await ctx.e2ee.admit(a, s.user, s.device, kind, body, cid);
  // A reaction or a reply: the message it names exists here and the sender may read it.
  if (ref !== undefined) await targetOf(node, a, s.user, ref, kind === MessageKind.Reaction ? "reaction" : "reply");
  const upload = media ? await ctx.media.verifyForSend(s.user, media, conv) : null;
  const ack = await a.send(s.user, s.device, cid, kind, body, acceptedAt, ref === undefined ? { media, resend } : { media, resend, ref });
  // Thumbnails only of plain media: an encrypted file is noise to the server (its sender makes the thumbnail).
  if (upload && !ack.dup && kind === MessageKind.Media) void thumbnail(node, a, upload, conv, ack.seq, ack.exp);
  else if (upload && !ack.dup && ack.exp !== undefined) await ctx.media.scheduleDeletion(upload.id, ack.exp);
  // Writing in a conversation makes it the sender's choice (presence, src/safety/policy.ts).
  ctx.safety.consent(conv, s.user).catch((err: unknown) => ctx.log.warn({ err, conv }, "recording consent failed"));
  return ack;
}

export const receipt: Command<typeof Method.Receipt> = {
  rate: "receipt",
  async run({ node, session: s }, { conv, type, seq }) {
    const a = await memberOf(node, conv, s.user);
    // In a direct conversation either member may have turned read receipts off (both ways).
    const peer = a.type === ConvType.Direct ? peerOf(a, s.user) : undefined;
    await a.receipt(s.user, s.device, type, seq, peer !== undefined && (await node.ctx.safety.readsHidden(s.user, peer)));
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
  async run({ node, session: s, user }, { conv, before, limit = 50 }): Promise<HistoryResult> {
    const { ctx } = node;
    const joined = (await memberOf(node, conv, s.user)).joinedSeq(s.user) ?? 1;
    // A member reads from the message that added them; earlier history was never theirs. What
    // they hid for themselves reads as removed.
    const rows = await user.hidden.apply(conv, (await ctx.messages.history(conv, before ?? Number.MAX_SAFE_INTEGER, limit + 1)).filter((m) => m.seq >= joined), MESSAGE_ROWS);
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
