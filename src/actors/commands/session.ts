// Session commands: the handshake, heartbeats and resume.

import { ErrorCode, Method, PROTOCOL_VERSION } from "../../proto/codes.ts";
import { CommandError } from "../../proto/command-error.ts";
import { DEFAULT_DECODE_LIMITS } from "../../proto/limits.ts";
import type { ConnectResult, SyncResult } from "../../proto/types.ts";
import type { Command } from "./command.ts";

export const connect: Command<typeof Method.Connect> = {
  rate: null,
  beforeConnect: true,
  run({ node, session: s }, p): ConnectResult {
    if (s.connected) throw new CommandError(ErrorCode.AlreadyConnected, "already connected");
    const { config } = node.ctx;
    if (p.v !== PROTOCOL_VERSION) {
      throw new CommandError(ErrorCode.UnsupportedVersion, `protocol version ${p.v} is not supported; this server speaks ${PROTOCOL_VERSION}`);
    }
    s.connected = true;
    if (p.batch) s.transport.batchFrames();
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
  },
};

export const ping: Command<typeof Method.Ping> = {
  rate: null,
  run({ node, session: s, id, acceptedAt }) {
    const { ctx } = node;
    // Answered ones only: the idle collector (server.ts) takes two frames off the count per heartbeat.
    if (id !== 0) ctx.metrics.heartbeats.n++;
    // Presence is soft state: a slow or absent presence store must not delay the heartbeat reply.
    ctx.presence.heartbeat(s.user, s.device, ctx.config.server.nodeId, acceptedAt).catch((err) => ctx.log.warn({ err }, "presence heartbeat failed"));
    return { t: Date.now() };
  },
};

export const sync: Command<typeof Method.Sync> = {
  rate: "sync",
  async run({ session: s, user, id }, { cursors = {} }) {
    // The plan is the reply; the backlog streams after it, so the handler replies by itself.
    await user.sync(s, cursors, (convs) => s.reply(id, { convs } satisfies SyncResult));
    return null;
  },
};
