// The error a command handler throws to refuse a command: a protocol error code (codes.ts) and
// a message for the client. The dispatcher turns it into the error reply; anything else a
// handler throws is an internal fault, answered with ErrorCode.Internal.

import { ErrorCode, type ErrorCodeId } from "./codes.ts";

export class CommandError extends Error {
  constructor(
    readonly code: ErrorCodeId,
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

export const notMember = () => new CommandError(ErrorCode.Forbidden, "not a member of this conversation");
export const notFound = () => new CommandError(ErrorCode.NotFound, "no such conversation");
export const rateLimited = (what: string, retryAfterMs: number) => new CommandError(ErrorCode.RateLimited, `${what}: too many, retry later`, retryAfterMs);
