// What a command handler is: a function of the validated parameters (their type comes from the
// method's schema) that returns the reply body, and the per-user rate it counts against.
// Handlers live in one file per domain; table.ts lists them by method.

import type { RateClass } from "../../config/config.ts";
import type { MethodId } from "../../proto/codes.ts";
import type { ParamsOf } from "../../proto/schema.ts";
import type { DeviceSession } from "../device-session.ts";
import type { Node } from "../node.ts";
import type { UserActor } from "../user-actor.ts";

/** What a handler may use: the node, the device's session, its user's actor, the command. */
export interface CommandContext {
  readonly node: Node;
  readonly session: DeviceSession;
  /** The user's actor on this node (exists while the session is open). */
  readonly user: UserActor;
  /** The command's id: a handler that replies by itself (SYNC) needs it. */
  readonly id: number;
  /** Clock reading when the frame was decoded. */
  readonly acceptedAt: number;
}

/** A reply body, or null when no reply is due (the handler replied itself, or there is nothing to say). */
export type Reply = object | null;

export interface Command<M extends MethodId> {
  /** The per-user rate this command counts against (config `rates`); null: only the connection's budget. */
  readonly rate: RateClass | null;
  /** True only for CONNECT: every other command needs an accepted CONNECT first. */
  readonly beforeConnect?: boolean;
  run(c: CommandContext, params: ParamsOf<M>): Reply | Promise<Reply>;
}

export type CommandTable = { readonly [M in MethodId]: Command<M> };
