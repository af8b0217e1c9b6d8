// The frame boundary: turns one frame from a device into one handler call and exactly one reply
// (or none, for id 0 on success). Admission happens here, before any handler runs: CONNECT
// first, the connection's command budget and in-flight cap, the user's rate for the command's
// class. Nothing a handler throws gets past this file: a CommandError becomes its error reply;
// anything else is an internal fault, logged (throttled, without the frame's bytes), answered
// with Internal (retryable), and counted towards the connection's protocol-error limit, so the
// process keeps serving everyone else.

import { DisconnectCode, ErrorCode, Method, type MethodId } from "../../proto/codes.ts";
import { decodeCommand, FrameError } from "../../proto/codec.ts";
import { CommandError, rateLimited } from "../../proto/command-error.ts";
import { DEFAULT_DECODE_LIMITS, type DecodeLimits } from "../../proto/limits.ts";
import type { ParamsOf } from "../../proto/schema.ts";
import { isProtocolError, type DeviceSession } from "../device-session.ts";
import type { Node } from "../node.ts";
import type { UserActor } from "../user-actor.ts";
import type { Command, CommandContext, Reply } from "./command.ts";
import { COMMANDS } from "./table.ts";

/** How long a command refused for the in-flight cap should wait: about one store round trip. */
const INFLIGHT_RETRY_MS = 50;

export function decodeLimits(node: Node): DecodeLimits {
  return { ...DEFAULT_DECODE_LIMITS, maxFrameBytes: node.ctx.config.limits.maxFrameBytes };
}

/** Handles one frame; never throws. */
export function handleFrame(node: Node, s: DeviceSession, bytes: Uint8Array, limits: DecodeLimits): void {
  try {
    dispatch(node, s, bytes, limits);
  } catch (err) {
    fault(node, s, 0, err);
  }
}

function dispatch(node: Node, s: DeviceSession, bytes: Uint8Array, limits: DecodeLimits): void {
  const { ctx } = node;
  const now = ctx.clock.now();
  s.lastFrameAt = now;
  ctx.metrics.framesIn.n++;
  let cmd;
  try {
    cmd = decodeCommand(bytes, limits);
  } catch (e) {
    // The codec throws nothing else; should it ever, the frame is still the client's fault.
    const fe = e instanceof FrameError ? e : new FrameError(ErrorCode.BadFrame, "malformed frame");
    s.error(fe.id, fe.code, fe.message);
    s.protocolError(now, ctx.config.limits.maxProtocolErrors);
    return;
  }
  execute(node, s, cmd, now);
}

function execute<M extends MethodId>(node: Node, s: DeviceSession, cmd: { id: number; method: M; params: ParamsOf<M> }, now: number): void {
  const command: Command<M> = COMMANDS[cmd.method];
  let user: UserActor;
  try {
    user = admit(node, s, command, cmd.method, now);
  } catch (e) {
    return failed(node, s, cmd.id, e, now);
  }
  const c: CommandContext = { node, session: s, user, id: cmd.id, acceptedAt: now };
  let r: Reply | Promise<Reply>;
  try {
    r = command.run(c, cmd.params);
  } catch (e) {
    return failed(node, s, cmd.id, e, now);
  }
  if (!(r instanceof Promise)) {
    if (r) s.reply(cmd.id, r);
    return;
  }
  s.inflight++;
  node.commandStarted();
  r.then(
    (body) => {
      s.inflight--;
      node.commandSettled();
      try {
        if (body) s.reply(cmd.id, body);
      } catch (e) {
        fault(node, s, cmd.id, e);
      }
    },
    (e: unknown) => {
      s.inflight--;
      node.commandSettled();
      failed(node, s, cmd.id, e, now);
    },
  );
}

/** Checks that the command may run now; returns the user's actor, throws CommandError if not. */
function admit(node: Node, s: DeviceSession, command: Command<MethodId>, method: MethodId, now: number): UserActor {
  const { limits } = node.ctx.config;
  const wait = s.takeCommandToken(now);
  if (wait > 0) throw rateLimited("commands on this connection", wait);
  if (!command.beforeConnect && !s.connected) throw new CommandError(ErrorCode.NotConnected, "send CONNECT first");
  if (node.draining && method !== Method.Ping) throw new CommandError(ErrorCode.Unavailable, "server is shutting down; reconnect", 1000);
  const user = node.userActor(s.user);
  if (!user) throw new CommandError(ErrorCode.Unavailable, "session is closing", 1000);
  if (s.inflight >= limits.maxInflightPerConnection) throw rateLimited(`more than ${limits.maxInflightPerConnection} commands in flight`, INFLIGHT_RETRY_MS);
  if (command.rate) {
    const w = user.takeRate(command.rate, now);
    if (w > 0) throw rateLimited(command.rate, w);
  }
  return user;
}

/** Answers a command that failed: its CommandError, or an internal fault. */
function failed(node: Node, s: DeviceSession, id: number, e: unknown, at: number): void {
  if (!(e instanceof CommandError)) return fault(node, s, id, e);
  const { limits } = node.ctx.config;
  s.error(id, e.code, e.message, e.retryAfterMs);
  // The reply says why; then close, since nothing else can be said in a version the server does not speak.
  if (e.code === ErrorCode.UnsupportedVersion) s.close(DisconnectCode.UnsupportedVersion, "unsupported protocol version");
  else if (isProtocolError(e.code)) s.protocolError(at, limits.maxProtocolErrors);
  else if (e.code === ErrorCode.RateLimited) s.refused(at, limits.maxRefusedCommands);
}

/** A fault in the server's own code while handling a frame: contained here, never rethrown. */
function fault(node: Node, s: DeviceSession, id: number, err: unknown): void {
  const { ctx } = node;
  try {
    ctx.metrics.internalErrors.inc({ where: "command" });
    node.faultLog.log({ err, user: s.user, device: s.device }, "command failed");
    s.error(id, ErrorCode.Internal, "internal error");
    s.protocolError(ctx.clock.now(), ctx.config.limits.maxProtocolErrors);
  } catch {
    // Reporting the fault failed too (a closed socket, a broken logger): the frame is dropped.
  }
}
