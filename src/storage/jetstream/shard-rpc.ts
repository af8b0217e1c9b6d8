// What one store instance asks a shard's owner in another process, over NATS request/reply on the
// subject named in the owner's lease: append these messages (in this order), show me these
// conversations: their last stored seq, and a page of their messages if the owner still holds
// it in memory, or a message was rewritten (edited, deleted for everyone): change what you hold
// of it. MessagePack, like the log's envelopes.
//
//   request  [op, shard, body]     APPEND: [[message, resend], ...]   VIEWS: [[conv, from, limit, desc], ...]
//                                  REWRITE: [message]
//   reply    [status, body]        status 0: done, 1: not the shard's owner (nothing was done)
//            APPEND body: one [kind, value] per message, in order:
//              0 seq (stored)  1 original message (duplicate)  2 error text (not stored or unknown)
//              3 not stored: the owner changed meanwhile, route it again
//            VIEWS body: [[last seq, messages or null], ...] (views.ts)
//            REWRITE body: null

import { pack, unpack } from "../../proto/codec.ts";
import type { NewMessage, StoredMessage } from "../types.ts";
import type { View, ViewQuery } from "./views.ts";

export const Op = { Append: 1, Views: 2, Rewrite: 3 } as const;
export const Status = { Done: 0, NotOwner: 1 } as const;
export const Outcome = { Stored: 0, Duplicate: 1, Failed: 2, NotOwner: 3 } as const;

export type AppendOutcome = [typeof Outcome.Stored, number] | [typeof Outcome.Duplicate, StoredMessage] | [typeof Outcome.Failed, string] | [typeof Outcome.NotOwner, null];

export type Request =
  | { op: typeof Op.Append; shard: number; messages: { msg: NewMessage; resend: boolean }[] }
  | { op: typeof Op.Views; shard: number; queries: ViewQuery[] }
  | { op: typeof Op.Rewrite; shard: number; message: StoredMessage };

export function encodeAppend(shard: number, messages: { msg: NewMessage; resend: boolean }[]): Uint8Array {
  return pack([Op.Append, shard, messages.map((m) => [m.msg, m.resend])]);
}

export function encodeRewrite(shard: number, message: StoredMessage): Uint8Array {
  return pack([Op.Rewrite, shard, [message]]);
}

export function encodeViews(shard: number, queries: ViewQuery[]): Uint8Array {
  return pack([Op.Views, shard, queries.map((q) => [q.conv, q.from, q.limit, q.desc])]);
}

/** Throws on anything malformed (only store instances publish here, but a bad request must not break the owner). */
export function decodeRequest(data: Uint8Array): Request {
  const v = unpack(data) as unknown[];
  if (!Array.isArray(v) || !Number.isInteger(v[1]) || !Array.isArray(v[2])) throw new Error("malformed shard request");
  const shard = v[1] as number;
  if (v[0] === Op.Append) {
    return {
      op: Op.Append,
      shard,
      messages: (v[2] as [NewMessage, boolean][]).map(([msg, resend]) => {
        if (msg.media === undefined) delete msg.media;
        return { msg, resend: resend === true };
      }),
    };
  }
  if (v[0] === Op.Views) return { op: Op.Views, shard, queries: (v[2] as [string, number, number, boolean][]).map(([conv, from, limit, desc]) => ({ conv, from, limit, desc })) };
  if (v[0] === Op.Rewrite) {
    const message = (v[2] as StoredMessage[])[0];
    if (!message || typeof message !== "object" || typeof message.conv !== "string" || !Number.isInteger(message.seq)) throw new Error("malformed shard request");
    if (message.media === undefined) delete message.media;
    return { op: Op.Rewrite, shard, message };
  }
  throw new Error(`unknown shard request ${String(v[0])}`);
}

export function encodeReply(status: number, body: unknown): Uint8Array {
  return pack([status, body]);
}

export function decodeReply<T>(data: Uint8Array): { status: number; body: T } {
  const v = unpack(data) as [number, T];
  return { status: v[0], body: v[1] };
}

export function decodeOutcome(o: AppendOutcome): AppendOutcome {
  if (o[0] === Outcome.Duplicate && o[1].media === undefined) delete o[1].media;
  return o;
}

export function encodeViewReply(views: View[]): Uint8Array {
  return encodeReply(Status.Done, views.map((v) => [v.last, v.messages]));
}

export function decodeViews(body: [number, StoredMessage[] | null][]): View[] {
  return body.map(([last, messages]) => {
    for (const m of messages ?? []) if (m.media === undefined) delete m.media;
    return { last, messages };
  });
}
