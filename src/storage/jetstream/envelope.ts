// One JetStream message of the log: an envelope holding every chat message one shard owner
// committed together (group commit: one publish, one fsync, many messages). The envelope also
// names who wrote it, so an owner that lost track of a publish (timeout, reconnect) can tell its
// own envelopes from a newer owner's when it re-reads the stream.

import { pack, unpack } from "../../proto/codec.ts";
import type { NewMessage, StoredMessage } from "../types.ts";

export interface Envelope {
  /** The writing store instance (unique per process start). */
  writer: string;
  /** The writer's lease epoch for the shard: it grows with every change of owner. */
  epoch: number;
  /** The writer's envelope counter within the epoch, from 1. */
  n: number;
  /** The messages, in seq order per conversation. Empty for the marker a new owner writes to fence the old one. */
  messages: StoredMessage[];
}

/** A message as the log holds it, with the stream sequence of its envelope. */
export interface LogEntry {
  message: StoredMessage;
  /** Stream sequence of the envelope in its shard's stream: where a walk of the unflushed tail may start. */
  logSeq: number;
}

/** What a rewrite (an edit, a deletion for everyone) sets on a message (MessageStore.rewrite). */
export type Rewrite = Pick<StoredMessage, "kind" | "body" | "media" | "ref" | "edited">;

/**
 * `m` as a rewrite left it: the log holds messages as sent, and what reads take from it (or from
 * an owner's memory of it) gets the rewrite applied. The fields a rewrite leaves out are gone.
 */
export function applyRewrite(m: StoredMessage, r: Rewrite | undefined): StoredMessage {
  if (!r) return m;
  const { media: _media, ref: _ref, edited: _edited, ...rest } = m;
  const out: StoredMessage = { ...rest, kind: r.kind, body: r.body };
  if (r.media !== undefined) out.media = r.media;
  if (r.ref !== undefined) out.ref = r.ref;
  if (r.edited !== undefined) out.edited = r.edited;
  return out;
}

const VERSION = 1;

/** The envelope's Nats-Msg-Id: unique per writer, epoch and counter. */
export function envelopeId(e: Pick<Envelope, "writer" | "epoch" | "n">): string {
  return `${e.writer}.${e.epoch}.${e.n}`;
}

/** Entries are the stored messages in the protocol's MessagePack form: the worker and the read path decode them, nothing else. */
export function encodeEnvelope(e: Envelope): Uint8Array {
  return pack([VERSION, e.writer, e.epoch, e.n, e.messages]);
}

/** Throws on anything that is not an envelope of this version. */
export function decodeEnvelope(data: Uint8Array): Envelope {
  const v = unpack(data) as unknown[];
  if (!Array.isArray(v) || v[0] !== VERSION || !Array.isArray(v[4])) throw new Error("not a message-log envelope");
  const messages = v[4] as StoredMessage[];
  for (const m of messages) if (m.media === undefined) delete m.media;
  return { writer: v[1] as string, epoch: Number(v[2]), n: Number(v[3]), messages };
}

/** MessagePack bytes of one message inside an envelope, close enough to bound envelope sizes. */
export function approxBytes(m: Pick<StoredMessage, "body" | "conv" | "from" | "dev" | "cid"> & { media?: string }): number {
  return m.body.byteLength + m.conv.length + m.from.length + m.dev.length + m.cid.length + (m.media?.length ?? 0) + 48;
}

/** Refuses what the store could not write: such a message would sit in the log forever, its envelope never flushed. */
export function checkStorable(msg: NewMessage): void {
  if (!(msg.body instanceof Uint8Array) || typeof msg.id !== "bigint" || typeof msg.conv !== "string" || typeof msg.from !== "string" || typeof msg.dev !== "string" || typeof msg.cid !== "string" || !Number.isInteger(msg.kind) || !Number.isFinite(msg.ts)) {
    throw new TypeError("message is not storable: body must be bytes, id a bigint, conv, from, dev and cid strings, kind an integer, ts a number");
  }
}
