// Turns one decoded command from a device into actor calls and exactly one reply.
// A command either completes or fails with a code; it is never half-applied, because every
// state change happens inside one actor's mailbox step after all checks have passed.

import { randomUUID } from "node:crypto";
import { ConvType, DisconnectCode, ErrorCode, MessageKind, Method, PROTOCOL_VERSION } from "../proto/codes.ts";
import { decodeCommand, FrameError, type CommandFrame } from "../proto/codec.ts";
import { DEFAULT_DECODE_LIMITS, type DecodeLimits } from "../proto/limits.ts";
import type * as P from "../proto/types.ts";
import { checkPushEndpoint } from "../push/endpoint-policy.ts";
import { mobileRegistration, saveMobileToken } from "../push/mobile-token.ts";
import type { MediaRecord } from "../storage/types.ts";
import type { ConversationActor } from "./conversation-actor.ts";
import type { DeviceSession } from "./device-session.ts";
import { isProtocolError } from "./device-session.ts";
import { CommandError, notFound, notMember } from "./errors.ts";
import type { Node } from "./node.ts";

export function decodeLimits(node: Node): DecodeLimits {
  return { ...DEFAULT_DECODE_LIMITS, maxFrameBytes: node.ctx.config.limits.maxFrameBytes };
}

/** Handles one frame; never throws. */
export function handleFrame(node: Node, s: DeviceSession, bytes: Uint8Array, limits: DecodeLimits): void {
  const now = Date.now();
  s.lastFrameAt = now;
  node.ctx.metrics.framesIn.inc();
  let cmd: CommandFrame;
  try {
    cmd = decodeCommand(bytes, limits);
  } catch (e) {
    if (!(e instanceof FrameError)) throw e;
    s.error(e.id, e.code, e.message);
    s.protocolError(now, node.ctx.config.limits.maxProtocolErrors);
    return;
  }
  node.inflight++;
  run(node, s, cmd, now).then(
    (result) => {
      node.inflight--;
      if (result) s.reply(cmd.id, result);
    },
    (e) => {
      node.inflight--;
      if (e instanceof CommandError) {
        s.error(cmd.id, e.code, e.message, e.retryAfterMs);
        // The reply says why; then close, since nothing else can be said in a version the server does not speak.
        if (e.code === ErrorCode.UnsupportedVersion) s.close(DisconnectCode.UnsupportedVersion, "unsupported protocol version");
        else if (isProtocolError(e.code)) s.protocolError(now, node.ctx.config.limits.maxProtocolErrors);
        return;
      }
      node.ctx.log.error({ err: e, method: cmd.method, user: s.user }, "command failed");
      s.error(cmd.id, ErrorCode.Internal, "internal error");
    },
  );
}

async function member(node: Node, conv: string, user: string): Promise<ConversationActor> {
  const a = await node.conversation(conv);
  if (!a) throw notFound();
  if (!a.isMember(user)) throw notMember();
  return a;
}

/** Returns the reply body, or null when the reply was already sent (SYNC) or none is due. */
async function run(node: Node, s: DeviceSession, cmd: CommandFrame, acceptedAt: number): Promise<object | null> {
  const { ctx } = node;
  const p = cmd.params;
  if (cmd.method === Method.Connect) return connect(node, s, p as unknown as P.ConnectParams);
  if (!s.connected) throw new CommandError(ErrorCode.NotConnected, "send CONNECT first");
  if (node.draining && cmd.method !== Method.Ping) throw new CommandError(ErrorCode.Unavailable, "server is shutting down; reconnect", 1000);
  const actor = node.userActor(s.user);
  if (!actor) throw new CommandError(ErrorCode.Unavailable, "session is closing", 1000);

  switch (cmd.method) {
    case Method.Ping:
      // Presence is soft state: a slow or absent presence store must not delay the heartbeat reply.
      ctx.presence.heartbeat(s.user, s.device, ctx.config.server.nodeId, acceptedAt).catch((err) => ctx.log.warn({ err }, "presence heartbeat failed"));
      return { t: Date.now() };

    case Method.Sync: {
      const { cursors = {} } = p as unknown as Partial<P.SyncParams>;
      await actor.sync(s, cursors, (convs) => s.reply(cmd.id, { convs } satisfies P.SyncResult));
      return null;
    }

    case Method.Send: {
      const { conv, cid, kind, body, media, resend } = p as unknown as P.SendParams;
      if (body.length > ctx.config.limits.maxBodyBytes) {
        throw new CommandError(ErrorCode.BodyTooLarge, `body exceeds ${ctx.config.limits.maxBodyBytes} bytes`);
      }
      if (media && kind !== MessageKind.Media) throw new CommandError(ErrorCode.InvalidParams, "media: only messages of kind media carry an upload");
      const wait = actor.sendBucket.take(acceptedAt);
      if (wait > 0) throw new CommandError(ErrorCode.RateLimited, "sending too fast", wait);
      const a = await member(node, conv, s.user);
      const upload = media ? await ctx.media.verifyForSend(s.user, media, conv) : null;
      // Copy: the frame's buffer belongs to the socket layer.
      const ack = await a.send(s.user, s.device, cid, kind, body.slice(), acceptedAt, { media, resend });
      if (upload && !ack.dup) void thumbnail(node, a, upload, conv, ack.seq);
      return ack;
    }

    case Method.Receipt: {
      const { conv, type, seq } = p as unknown as P.ReceiptParams;
      await (await member(node, conv, s.user)).receipt(s.user, type, seq);
      return {};
    }

    case Method.Typing: {
      const { conv, on } = p as unknown as P.TypingParams;
      (await member(node, conv, s.user)).typing(s.user, s.device, on);
      return {};
    }

    case Method.History: {
      const { conv, before, limit = 50 } = p as unknown as P.HistoryParams;
      const joined = (await member(node, conv, s.user)).joinedSeq(s.user) ?? 1;
      // A member reads from the message that added them; earlier history was never theirs.
      const rows = (await ctx.messages.history(conv, before ?? Number.MAX_SAFE_INTEGER, limit + 1)).filter((m) => m.seq >= joined);
      // One reply frame stays well below the socket buffer limit, however large the bodies.
      const budget = Math.min(1 << 20, ctx.config.limits.socketBufferBytes / 4);
      const messages: P.WireMessage[] = [];
      let bytes = 0;
      for (const m of rows.slice(0, limit)) {
        if (messages.length > 0 && bytes + m.body.length > budget) break;
        messages.push(m);
        bytes += m.body.length;
      }
      return { messages, more: rows.length > messages.length } satisfies P.HistoryResult;
    }

    case Method.PresenceSubscribe: {
      const { users } = p as unknown as P.PresenceSubscribeParams;
      if (users.length > ctx.config.limits.maxPresenceWatch) {
        throw new CommandError(ErrorCode.InvalidParams, `users: at most ${ctx.config.limits.maxPresenceWatch}`);
      }
      // Only people who share a conversation with the watcher are visible; others look offline.
      const visible: string[] = [];
      for (const u of new Set(users)) if (u === s.user || (await ctx.metadata.sharesConversation(s.user, u))) visible.push(u);
      node.watch(s, visible);
      const known = new Map((await ctx.presence.get(visible)).map((x) => [x.user, x]));
      return { presence: users.map((u) => known.get(u) ?? { user: u, online: false, lastSeen: 0 }) } satisfies P.PresenceSubscribeResult;
    }

    case Method.ConvList: {
      const convs: P.ConvInfo[] = [];
      for (const id of actor.conversations()) {
        const a = await node.conversation(id);
        if (a?.isMember(s.user)) convs.push(a.info());
      }
      return { convs };
    }

    case Method.ConvGet: {
      const { conv } = p as unknown as P.ConvRef;
      return (await member(node, conv, s.user)).info();
    }

    case Method.DirectOpen: {
      const { user } = p as unknown as P.DirectOpenParams;
      if (user === s.user) throw new CommandError(ErrorCode.InvalidParams, "user: cannot open a direct conversation with yourself");
      const { id, created } = await ctx.metadata.openDirect(
        { id: newConversationId(), type: ConvType.Direct, title: "", createdBy: s.user, createdAt: Date.now() },
        s.user,
        user,
      );
      const a = await member(node, id, s.user);
      if (created) a.announceDirect();
      return a.info();
    }

    case Method.GroupCreate: {
      const { title, members } = p as unknown as P.GroupCreateParams;
      const users = [...new Set([s.user, ...members])];
      if (users.length > ctx.config.limits.maxGroupSize) {
        throw new CommandError(ErrorCode.GroupFull, `a group holds at most ${ctx.config.limits.maxGroupSize} members`);
      }
      const id = newConversationId();
      await ctx.metadata.createConversation(
        { id, type: ConvType.Group, title, createdBy: s.user, createdAt: Date.now() },
        users.map((user) => ({ user, admin: user === s.user, joinedSeq: 1, delivered: 0, read: 0 })),
      );
      const a = (await node.conversation(id))!;
      await a.announceCreated(s.user);
      return a.info();
    }

    case Method.GroupRename: {
      const { conv, title } = p as unknown as P.GroupRenameParams;
      return { seq: await (await member(node, conv, s.user)).rename(s.user, title) } satisfies P.MembershipResult;
    }
    case Method.GroupAdd: {
      const { conv, users } = p as unknown as P.GroupAddParams;
      return { seq: await (await member(node, conv, s.user)).add(s.user, users) } satisfies P.MembershipResult;
    }
    case Method.GroupRemove: {
      const { conv, user } = p as unknown as P.GroupRemoveParams;
      return { seq: await (await member(node, conv, s.user)).remove(s.user, user) } satisfies P.MembershipResult;
    }
    case Method.GroupSetAdmin: {
      const { conv, user, admin } = p as unknown as P.GroupSetAdminParams;
      return { seq: await (await member(node, conv, s.user)).setAdmin(s.user, user, admin) } satisfies P.MembershipResult;
    }

    case Method.DeviceList: {
      const [devices, online] = await Promise.all([ctx.metadata.listDevices(s.user), ctx.presence.onlineDevices(s.user)]);
      const on = new Set(online);
      return {
        devices: devices.map((d) => ({ device: d.device, online: on.has(d.device), lastSeen: d.lastSeen, revoked: d.revoked }) satisfies P.DeviceInfo),
      };
    }
    case Method.MediaUpload:
      return ctx.media.requestUpload(s.user, p as unknown as P.MediaUploadParams);

    case Method.MediaUrl: {
      const { media } = p as unknown as P.MediaUrlParams;
      return ctx.media.downloadUrl(s.user, media, async (conv) => (await node.conversation(conv))?.isMember(s.user) ?? false);
    }

    case Method.PushSubscribe: {
      const { endpoint, p256dh, auth } = p as unknown as P.PushSubscribeParams;
      // RFC 8291 keys: an uncompressed P-256 point and a 16-byte secret. A malformed pair would fail every push.
      if (Buffer.from(p256dh, "base64url").length !== 65 || Buffer.from(p256dh, "base64url")[0] !== 4) {
        throw new CommandError(ErrorCode.InvalidParams, "p256dh: expected an uncompressed P-256 public key");
      }
      if (Buffer.from(auth, "base64url").length !== 16) throw new CommandError(ErrorCode.InvalidParams, "auth: expected 16 bytes");
      const verdict = await checkPushEndpoint(endpoint, { allowlist: ctx.config.push.testAllowlist });
      if (!verdict.ok) throw new CommandError(ErrorCode.InvalidParams, `endpoint: ${verdict.reason}`);
      await ctx.metadata.savePushSubscription({ user: s.user, device: s.device, endpoint, p256dh, auth, createdAt: Date.now() });
      return {};
    }

    case Method.PushRegister: {
      const { service, token } = p as unknown as P.PushRegisterParams;
      const reg = mobileRegistration(ctx.config, service, token);
      if (!reg.ok) throw new CommandError(ErrorCode.InvalidParams, reg.reason);
      await saveMobileToken(ctx.metadata, s.user, s.device, reg.endpoint, Date.now());
      return { endpoint: reg.endpoint } satisfies P.PushRegisterResult;
    }

    case Method.PushUnsubscribe: {
      const { endpoint } = p as unknown as { endpoint: string };
      // Only the user's own subscriptions: an endpoint URL is not proof of ownership.
      if ((await ctx.metadata.listPushSubscriptions(s.user)).some((x) => x.endpoint === endpoint)) await ctx.metadata.deletePushSubscription(endpoint);
      return {};
    }

    case Method.DeviceRevoke: {
      const { device } = p as unknown as P.DeviceRevokeParams;
      if (!(await node.revokeDevice(s.user, device))) throw new CommandError(ErrorCode.NotFound, "no such device");
      return {};
    }
  }
  throw new CommandError(ErrorCode.UnknownMethod, `unknown method ${cmd.method}`);
}

function connect(node: Node, s: DeviceSession, p: P.ConnectParams): P.ConnectResult {
  if (s.connected) throw new CommandError(ErrorCode.AlreadyConnected, "already connected");
  const { config } = node.ctx;
  if (p.v !== PROTOCOL_VERSION) {
    throw new CommandError(ErrorCode.UnsupportedVersion, `protocol version ${p.v} is not supported; this server speaks ${PROTOCOL_VERSION}`);
  }
  s.connected = true;
  return {
    v: PROTOCOL_VERSION,
    user: s.user,
    device: s.device,
    node: config.server.nodeId,
    session: s.id,
    heartbeatMs: config.heartbeat.intervalMs,
    heartbeatTimeoutMs: config.heartbeat.timeoutMs,
    limits: {
      ...DEFAULT_DECODE_LIMITS,
      maxFrameBytes: config.limits.maxFrameBytes,
      maxBodyBytes: config.limits.maxBodyBytes,
      maxGroupSize: config.limits.maxGroupSize,
    },
  };
}

/** Makes an image's thumbnail after its message went out, then records it in the conversation. */
async function thumbnail(node: Node, conv: ConversationActor, media: MediaRecord, convId: string, seq: number): Promise<void> {
  const thumb = await node.ctx.media.makeThumbnail(media, convId);
  if (thumb) await conv.announceThumbnail(media.owner, media.id, thumb, seq).catch((err) => node.ctx.log.warn({ err }, "thumbnail announcement failed"));
}

function newConversationId(): string {
  return "c" + randomUUID().replaceAll("-", "");
}
