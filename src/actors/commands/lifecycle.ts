// The message lifecycle: edits, reactions, replies and forwards (SEND with `ref` or `forward`),
// deletion for everyone (DELETE) and for oneself (HIDE), the disappearing-message timer
// (TIMER_SET), and each user's own settings of a conversation (SETTINGS_SET, SETTINGS_LIST).
//
// Everything here works on what is in the clear: kinds, seqs, senders and times. Bodies may be
// end-to-end encrypted, and are never read: an edit, a reaction and a reply are messages of their
// own, whose target's seq travels next to the (opaque) body.

import { ConvType, ErrorCode, MessageKind, Method, PushKind } from "../../proto/codes.ts";
import { CommandError } from "../../proto/command-error.ts";
import type { ChatSettings, HiddenMessages, MembershipResult, SendResult, SendParams, SettingsListResult } from "../../proto/types.ts";
import { isPlaceholder } from "../../lifecycle/page-rows.ts";
import { removeMessage } from "../../lifecycle/removal.ts";
import type { MediaRecord, StoredMessage } from "../../storage/types.ts";
import type { ConversationActor } from "../conversation-actor.ts";
import type { DeviceSession } from "../device-session.ts";
import type { Node } from "../node.ts";
import type { Command } from "./command.ts";
import { peerOf } from "./guards.ts";
import { memberOf } from "./membership.ts";

const notFound = (message: string) => new CommandError(ErrorCode.NotFound, message);

/** SETTINGS_LIST names at most this many hidden seqs per conversation (the most recent). */
export const MAX_HIDDEN_LISTED = 1000;

/** Kinds a message about another one (an edit, a reaction, a reply, a forward) may be about: content. */
function isContent(kind: number): boolean {
  return kind !== MessageKind.System && kind !== MessageKind.Removed && kind !== MessageKind.Edit && kind !== MessageKind.Reaction;
}

/**
 * Message `seq` of conversation `a` as `user` may read it: at or after the seq they joined at and
 * still stored; refuses NotFound otherwise (a message before one's membership is not one's to name).
 */
export async function visibleMessage(node: Node, a: ConversationActor, user: string, seq: number): Promise<StoredMessage> {
  if (seq < (a.joinedSeq(user) ?? 1)) throw notFound(`no message ${seq} here`);
  const [m] = await node.ctx.messages.range(a.id, seq - 1, 1);
  if (!m || m.seq !== seq || isPlaceholder(m)) throw notFound(`no message ${seq} here`);
  return m;
}

/** The message `seq` an edit, reaction, reply or forward may refer to: visible, with content. */
export async function targetOf(node: Node, a: ConversationActor, user: string, seq: number, what: string): Promise<StoredMessage> {
  const m = await visibleMessage(node, a, user, seq);
  if (m.kind === MessageKind.Removed) throw notFound(`message ${seq} was deleted`);
  if (!isContent(m.kind)) throw new CommandError(ErrorCode.InvalidParams, `message ${seq} is not one a ${what} can refer to`);
  return m;
}

/** SEND's lifecycle parameters that contradict each other; the checks that need nothing but them. */
export function checkLifecycleParams(p: Pick<SendParams, "kind" | "media" | "ref" | "forward">): void {
  if ((p.kind === MessageKind.Edit || p.kind === MessageKind.Reaction) && p.ref === undefined) throw new CommandError(ErrorCode.InvalidParams, "ref: an edit or a reaction names its message");
  if (p.forward && (p.media !== undefined || p.ref !== undefined || p.kind === MessageKind.Edit || p.kind === MessageKind.Reaction)) {
    throw new CommandError(ErrorCode.InvalidParams, "forward: a forwarded message carries neither media of its own, nor a ref, and is not an edit or a reaction");
  }
}

async function requireNotBlockedIn(node: Node, a: ConversationActor, user: string): Promise<void> {
  const peer = a.type === ConvType.Direct ? peerOf(a, user) : undefined;
  if (peer) await node.ctx.safety.requireNotBlocked(user, peer);
}

/**
 * An edit: only the sender, within messages.editWindowSec of the original. It runs in the
 * conversation's turn (no other edit or deletion of the conversation in between), is appended
 * like any message (devices apply it in order), and before anyone hears of it the target's
 * stored body becomes the new one, with its time as `edited`: history and resume then show the
 * latest body.
 */
export async function sendEdit(node: Node, s: DeviceSession, p: SendParams, acceptedAt: number): Promise<SendResult> {
  const { ctx } = node;
  const a = await memberOf(node, p.conv, s.user);
  await requireNotBlockedIn(node, a, s.user);
  const body = p.body;
  const ack = await a.call(async () => {
    const target = await targetOf(node, a, s.user, p.ref!, "edit");
    if (target.from !== s.user) throw new CommandError(ErrorCode.Forbidden, "only its sender may edit a message");
    if (ctx.clock.now() - target.ts > ctx.config.messages.editWindowSec * 1000) {
      throw new CommandError(ErrorCode.WindowClosed, `messages can be edited for ${ctx.config.messages.editWindowSec} s after they are sent`);
    }
    return a.appendInTurn(s.user, s.device, p.cid, MessageKind.Edit, body, acceptedAt, { ref: target.seq, resend: p.resend }, (edit) =>
      ctx.messages.rewrite({ ...target, body: edit.body, edited: edit.ts }),
    );
  });
  ctx.safety.consent(p.conv, s.user).catch((err: unknown) => ctx.log.warn({ err, conv: p.conv }, "recording consent failed"));
  return ack;
}

/**
 * Forwarding: a message of another conversation (one the sender can read) sent on to this one.
 * Its media is copied inside the object store, no upload needed; the body is the client's (it may
 * be encrypted for this conversation's members).
 */
export async function sendForward(node: Node, s: DeviceSession, p: SendParams, acceptedAt: number): Promise<SendResult> {
  const { ctx } = node;
  const fwd = p.forward!;
  const source = await memberOf(node, fwd.conv, s.user);
  const original = await targetOf(node, source, s.user, fwd.seq, "forward");
  const a = await memberOf(node, p.conv, s.user);
  await requireNotBlockedIn(node, a, s.user);
  let copy: MediaRecord | null = null;
  if (original.media) {
    if (p.kind !== MessageKind.Media) throw new CommandError(ErrorCode.InvalidParams, "kind: a forwarded message with media is of kind media");
    const rec = await ctx.metadata.getMedia(original.media);
    if (!rec) throw notFound("the message's media is gone");
    copy = await ctx.media.forwardCopy(rec, s.user, p.conv);
  }
  let ack: SendResult;
  try {
    ack = await a.send(s.user, s.device, p.cid, p.kind, p.body, acceptedAt, { media: copy?.id, resend: p.resend });
  } catch (err) {
    if (copy) void ctx.media.deleteMedia([copy.id]).catch(() => {});
    throw err;
  }
  if (copy && ack.dup) {
    // A resend: the message stored first carries its own copy.
    void ctx.media.deleteMedia([copy.id]).catch((err: unknown) => ctx.log.warn({ err }, "could not delete a spare forwarded copy"));
    const [stored] = await ctx.messages.range(p.conv, ack.seq - 1, 1);
    if (stored?.media) ack.media = stored.media;
  } else if (copy) {
    ack.media = copy.id;
    if (ack.exp !== undefined) await ctx.media.scheduleDeletion(copy.id, ack.exp);
  }
  ctx.safety.consent(p.conv, s.user).catch((err: unknown) => ctx.log.warn({ err, conv: p.conv }, "recording consent failed"));
  return ack;
}

export const deleteMessage: Command<typeof Method.Delete> = {
  rate: "delete",
  async run({ node, session: s }, { conv, seq }): Promise<MembershipResult> {
    const { ctx } = node;
    const a = await memberOf(node, conv, s.user);
    const m = await visibleMessage(node, a, s.user, seq);
    if (!isContent(m.kind) && m.kind !== MessageKind.Removed) {
      throw new CommandError(ErrorCode.InvalidParams, m.kind === MessageKind.Reaction ? "a reaction is removed by reacting with an empty body" : `message ${seq} cannot be deleted`);
    }
    const own = m.from === s.user;
    const admin = a.type === ConvType.Group && a.isAdmin(s.user);
    const window = ctx.config.messages.deleteWindowSec;
    const inWindow = window === 0 || ctx.clock.now() - m.ts <= window * 1000;
    if (!(own && inWindow) && !admin) {
      if (own) throw new CommandError(ErrorCode.WindowClosed, `messages can be deleted for everyone for ${window} s after they are sent`);
      throw new CommandError(ErrorCode.Forbidden, "only its sender or a group admin may delete a message for everyone");
    }
    // Deleted before (by anyone): nothing more to do.
    if (m.kind === MessageKind.Removed) return { seq: 0 };
    const reason = own ? "deleted for everyone by its sender" : "deleted for everyone by a group admin";
    return { seq: await removeMessage(ctx, a, m, { by: s.user, announceAs: s.user, reason, erase: true }) };
  },
};

export const hide: Command<typeof Method.Hide> = {
  rate: "delete",
  async run({ node, session: s }, { conv, seqs }) {
    const { ctx } = node;
    const a = await memberOf(node, conv, s.user);
    const joined = a.joinedSeq(s.user) ?? 1;
    const last = await ctx.messages.lastSeq(conv);
    const bad = seqs.find((seq) => seq < joined || seq > last);
    if (bad !== undefined) throw notFound(`no message ${bad} here`);
    const unique = [...new Set(seqs)].sort((x, y) => x - y);
    await ctx.metadata.hideMessages(s.user, conv, unique, ctx.clock.now());
    // Every device of the user, on every node; their user actors start filtering the conversation.
    ctx.safety.notify(s.user, PushKind.Hidden, { conv, seqs: unique } satisfies HiddenMessages);
    return {};
  },
};

export const timerSet: Command<typeof Method.TimerSet> = {
  rate: "groupChange",
  async run({ node, session: s }, { conv, timer }): Promise<MembershipResult> {
    return { seq: await (await memberOf(node, conv, s.user)).setTimer(s.user, timer) };
  },
};

export const settingsSet: Command<typeof Method.SettingsSet> = {
  rate: "settings",
  async run({ node, session: s }, { conv, ...changes }): Promise<ChatSettings> {
    const { ctx } = node;
    await memberOf(node, conv, s.user);
    const next: ChatSettings = { ...(await ctx.metadata.getChatSettings(s.user, conv)), ...changes };
    await ctx.metadata.saveChatSettings(s.user, next);
    ctx.safety.notify(s.user, PushKind.ChatSettings, next);
    return next;
  },
};

export const settingsList: Command<typeof Method.SettingsList> = {
  rate: "settings",
  async run({ node, session: s }): Promise<SettingsListResult> {
    const { metadata } = node.ctx;
    const [settings, hidden] = await Promise.all([metadata.listChatSettings(s.user), metadata.listHidden(s.user, MAX_HIDDEN_LISTED)]);
    return { settings, hidden };
  },
};
