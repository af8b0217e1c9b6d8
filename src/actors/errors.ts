import { ErrorCode, type ErrorCodeId } from "../proto/codes.ts";

/** A command refused with a protocol error code; the session turns it into an error reply. */
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
