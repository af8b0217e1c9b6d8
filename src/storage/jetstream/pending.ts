// An append waiting for its outcome, as the router, the owner and the forwarding protocol pass it around.

import type { AppendResult, NewMessage } from "../types.ts";

export interface Pending {
  msg: NewMessage;
  /** The client marked it a retransmission: its client id is also looked up in the history store. */
  resend: boolean;
  resolve(result: AppendResult): void;
  reject(err: Error): void;
  /** Set when it came from another instance: on a change of owner it is answered "not owner" (its sender routes it again) instead of being routed here. */
  forwarded?: { notOwner(): void };
}

/** Thrown to callers when the outcome is unknown or the log is unreachable: the client resends with the same client id. */
export class LogUnavailableError extends Error {}
