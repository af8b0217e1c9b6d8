// A fast path for the frames that carry message bodies: an array of small integers followed by
// one flat object (a MESSAGE push, a SEND command, an ack). The bytes are exactly those msgpackr
// writes with the protocol's options (codec.ts); the frame codec uses this when the object is
// flat and msgpackr otherwise.
//
// Why: msgpackr packs a Uint8Array through its extension machinery (a scan of extension classes,
// a closure and a try per value), about 3 µs of a 5 µs MESSAGE push on Bun, and takes each
// frame's 8 KiB buffer from Buffer.allocUnsafeSlow, about 7% of the server's CPU in the 1:1 bench.
// Here a frame is written into one reused scratch buffer and copied out at its exact size (a
// Batch envelope is not copied: it is sent at once, frame-batch.ts).

import { MESSAGE_KEY_BYTES, MESSAGE_KEYS, type MessageKey } from "./message-keys.ts";
import type { WireMessage } from "./types.ts";

let scratch = new Uint8Array(64 * 1024);
let view = new DataView(scratch.buffer);

/** A value of a flat object; anything else (a nested array or object, a Map) is not flat. */
type FlatValue = string | number | bigint | boolean | null | undefined | Uint8Array;

/**
 * `[...head, body]` as msgpackr would pack it, or null when `body` has a value that is not flat
 * (the caller then uses msgpackr). `head`: the frame's numbers (type, id, kind...).
 */
export function packFlatFrame(head: readonly number[], body: object): Uint8Array | null {
  // Only a plain object is a map: msgpackr writes an array, a Map or a Date otherwise.
  const proto = Object.getPrototypeOf(body);
  if (proto !== Object.prototype && proto !== null) return null;
  const keys = Object.keys(body);
  if (keys.length > 0xffff) return null;
  const values = body as Record<string, unknown>;
  // Worst case: 3 bytes per UTF-16 unit of a string plus a 5-byte header; 9 bytes for a number.
  let max = 4 + head.length * 9;
  for (const k of keys) {
    const v = values[k];
    max += 5 + k.length * 3;
    if (typeof v === "string") max += 5 + v.length * 3;
    else if (v instanceof Uint8Array) max += 5 + v.byteLength;
    else if (v === null || v === undefined || typeof v === "number" || typeof v === "bigint" || typeof v === "boolean") max += 9;
    else return null;
  }
  const t = reserve(max);
  let p = writeHead(t, head);
  // msgpackr writes every object as a map 16, whatever its size (its default variableMapSize: false).
  t[p++] = 0xde;
  t[p++] = keys.length >> 8;
  t[p++] = keys.length & 0xff;
  for (const k of keys) {
    p = writeString(t, p, k);
    const v = values[k] as FlatValue;
    switch (typeof v) {
      case "string":
        p = writeString(t, p, v);
        break;
      case "number":
        p = writeNumber(t, p, v);
        break;
      case "bigint":
        p = writeBigInt(p, v);
        break;
      case "boolean":
        t[p++] = v ? 0xc3 : 0xc2;
        break;
      case "undefined":
        // msgpackr's undefined: fixext 1, type 0, data 0 (decoded as absent by the protocol).
        t[p++] = 0xd4;
        t[p++] = 0;
        t[p++] = 0;
        break;
      default:
        if (v === null) t[p++] = 0xc0;
        else p = writeBin(t, p, v);
    }
  }
  return t.slice(0, p);
}

/** A message's keys, each as msgpackr writes it. */
const K = Object.fromEntries(MESSAGE_KEYS.map((k, i) => [k, MESSAGE_KEY_BYTES[i]!])) as Record<MessageKey, Uint8Array>;

function writeKey(t: Uint8Array, p: number, key: Uint8Array): number {
  for (let i = 0; i < key.length; i++) t[p++] = key[i]!;
  return p;
}

/**
 * `[...head, m]` for a message (a MESSAGE push), its fields written by name in
 * the order WireMessage declares them: the bytes msgpackr writes for a message object built in
 * that order, as the stores build them. The general writer above reads an object's keys and
 * switches on each value's type, and on the live path it sees acks, receipts and messages of
 * several shapes: in the 1:1 bench that was 12% of the event loop thread's samples.
 * The optional fields are written when set; an optional field set to undefined is absent,
 * as the protocol reads it either way.
 */
export function packMessageFrame(head: readonly number[], m: WireMessage): Uint8Array {
  const { conv, from, dev, cid, body, media, ref, edited, exp } = m;
  // Keys (7 bytes at most) and numbers (9) of all 13 fields, plus the strings and the body.
  let max = 4 + head.length * 9 + 13 * 16 + 5 * 5 + 3 * (conv.length + from.length + dev.length + cid.length) + body.byteLength;
  if (media !== undefined) max += 3 * media.length;
  const t = reserve(max);
  let p = writeHead(t, head);
  const keys = 9 + (media !== undefined ? 1 : 0) + (ref !== undefined ? 1 : 0) + (edited !== undefined ? 1 : 0) + (exp !== undefined ? 1 : 0);
  t[p++] = 0xde;
  t[p++] = 0;
  t[p++] = keys;
  p = writeString(t, writeKey(t, p, K.conv), conv);
  p = writeNumber(t, writeKey(t, p, K.seq), m.seq);
  p = writeBigInt(writeKey(t, p, K.id), m.id);
  p = writeString(t, writeKey(t, p, K.from), from);
  p = writeString(t, writeKey(t, p, K.dev), dev);
  p = writeString(t, writeKey(t, p, K.cid), cid);
  p = writeNumber(t, writeKey(t, p, K.kind), m.kind);
  p = writeBin(t, writeKey(t, p, K.body), body);
  p = writeNumber(t, writeKey(t, p, K.ts), m.ts);
  if (media !== undefined) p = writeString(t, writeKey(t, p, K.media), media);
  if (ref !== undefined) p = writeNumber(t, writeKey(t, p, K.ref), ref);
  if (edited !== undefined) p = writeNumber(t, writeKey(t, p, K.edited), edited);
  if (exp !== undefined) p = writeNumber(t, writeKey(t, p, K.exp), exp);
  return t.slice(0, p);
}

/**
 * `[type, [frame, ...]]` with each frame a bin: the Batch envelope (frame-batch.ts). Returns a
 * view of the scratch buffer, not a copy: it holds the envelope until the next frame is packed.
 */
export function packBatchFrame(type: number, frames: readonly Uint8Array[]): Uint8Array {
  let max = 2 + 5;
  for (const f of frames) max += 5 + f.byteLength;
  const t = reserve(max);
  let p = writeHead(t, [type]);
  const n = frames.length;
  if (n < 16) t[p++] = 0x90 | n;
  else if (n < 0x10000) {
    t[p++] = 0xdc;
    t[p++] = n >> 8;
    t[p++] = n & 0xff;
  } else {
    t[p++] = 0xdd;
    view.setUint32(p, n);
    p += 4;
  }
  for (const f of frames) p = writeBin(t, p, f);
  return t.subarray(0, p);
}

/** The scratch buffer, grown to hold at least `max` bytes. */
function reserve(max: number): Uint8Array {
  if (max > scratch.length) {
    scratch = new Uint8Array(Math.max(max, scratch.length * 2));
    view = new DataView(scratch.buffer);
  }
  return scratch;
}

/** The frame's array header and its numbers, at the buffer's start; returns where the body goes. */
function writeHead(t: Uint8Array, head: readonly number[]): number {
  let p = 0;
  t[p++] = 0x90 | (head.length + 1);
  for (let i = 0; i < head.length; i++) p = writeNumber(t, p, head[i]!);
  return p;
}

function writeNumber(t: Uint8Array, p: number, v: number): number {
  if (v >>> 0 === v) {
    if (v < 0x80) t[p++] = v;
    else if (v < 0x100) {
      t[p++] = 0xcc;
      t[p++] = v;
    } else if (v < 0x10000) {
      t[p++] = 0xcd;
      t[p++] = v >> 8;
      t[p++] = v & 0xff;
    } else {
      t[p++] = 0xce;
      view.setUint32(p, v);
      p += 4;
    }
  } else if (v >> 0 === v) {
    if (v >= -0x20) t[p++] = 0x100 + v;
    else if (v >= -0x80) {
      t[p++] = 0xd0;
      t[p++] = v + 0x100;
    } else if (v >= -0x8000) {
      t[p++] = 0xd1;
      view.setInt16(p, v);
      p += 2;
    } else {
      t[p++] = 0xd2;
      view.setInt32(p, v);
      p += 4;
    }
  } else {
    t[p++] = 0xcb;
    view.setFloat64(p, v);
    p += 8;
  }
  return p;
}

function writeBigInt(p: number, v: bigint): number {
  if (v < 0x8000000000000000n && v >= -0x8000000000000000n) {
    scratch[p++] = 0xd3;
    view.setBigInt64(p, v);
  } else if (v < 0x10000000000000000n && v > 0n) {
    scratch[p++] = 0xcf;
    view.setBigUint64(p, v);
  } else throw new RangeError("a bigint outside 64 bits has no MessagePack form in this protocol");
  return p + 8;
}

/** UTF-8, as msgpackr writes it (a lone surrogate as its 3-byte form), with the shortest header. */
function writeString(t: Uint8Array, p: number, s: string): number {
  const n = s.length;
  // The header's size is known only after encoding; guess from the length and move if wrong.
  const guess = n < 0x20 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : 5;
  let q = p + guess;
  for (let i = 0; i < n; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) t[q++] = c;
    else if (c < 0x800) {
      t[q++] = (c >> 6) | 0xc0;
      t[q++] = (c & 0x3f) | 0x80;
    } else {
      let c2: number;
      if ((c & 0xfc00) === 0xd800 && ((c2 = s.charCodeAt(i + 1)) & 0xfc00) === 0xdc00) {
        c = 0x10000 + ((c & 0x03ff) << 10) + (c2 & 0x03ff);
        i++;
        t[q++] = (c >> 18) | 0xf0;
        t[q++] = ((c >> 12) & 0x3f) | 0x80;
        t[q++] = ((c >> 6) & 0x3f) | 0x80;
        t[q++] = (c & 0x3f) | 0x80;
      } else {
        t[q++] = (c >> 12) | 0xe0;
        t[q++] = ((c >> 6) & 0x3f) | 0x80;
        t[q++] = (c & 0x3f) | 0x80;
      }
    }
  }
  const len = q - p - guess;
  const size = len < 0x20 ? 1 : len < 0x100 ? 2 : len < 0x10000 ? 3 : 5;
  if (size !== guess) t.copyWithin(p + size, p + guess, q);
  if (size === 1) t[p] = 0xa0 | len;
  else if (size === 2) {
    t[p] = 0xd9;
    t[p + 1] = len;
  } else if (size === 3) {
    t[p] = 0xda;
    t[p + 1] = len >> 8;
    t[p + 2] = len & 0xff;
  } else {
    t[p] = 0xdb;
    view.setUint32(p + 1, len);
  }
  return p + size + len;
}

function writeBin(t: Uint8Array, p: number, b: Uint8Array): number {
  const len = b.byteLength;
  if (len < 0x100) {
    t[p++] = 0xc4;
    t[p++] = len;
  } else if (len < 0x10000) {
    t[p++] = 0xc5;
    t[p++] = len >> 8;
    t[p++] = len & 0xff;
  } else {
    t[p++] = 0xc6;
    view.setUint32(p, len);
    p += 4;
  }
  t.set(b, p);
  return p + len;
}
