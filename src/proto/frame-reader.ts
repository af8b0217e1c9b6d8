// A MessagePack reader for protocol frames, giving what msgpackr gives with the
// protocol's options (codec.ts): maps as plain objects ("__proto__" renamed "__proto_", as
// msgpackr does), 64-bit integers as bigint, bin as a view into the frame (or a copy: readFrame's
// `bins`), the undefined extension as undefined. Anything else (another extension, the reserved
// 0xc1) is left to msgpackr: readFrame returns NOT_READ.
//
// Why: a client spends most of its CPU decoding pushes. msgpackr takes 2-4 µs for a MESSAGE push
// on Bun (a native string-extraction call per frame, generic dispatch); in the group bench the
// SDK's decoding was half of the generator's CPU and capped the deliveries it could take. The
// server reads clients' frames with it too, but only after the structural scan (scan.ts) has
// bounded their depth and lengths and refused extension types and "__proto__" keys.

import { MESSAGE_KEY_BYTES, MESSAGE_KEYS, REQUIRED_MESSAGE_KEYS } from "./message-keys.ts";

export const NOT_READ: unique symbol = Symbol("not read");

const utf8 = new TextDecoder();
const EMPTY = new Uint8Array(0);

let src: Uint8Array = EMPTY;
/**
 * `src` when it is a Buffer (what Bun's WebSocket server hands a message handler), for reading
 * ASCII strings with latin1Slice; null otherwise (a browser's frames). Why: the first view made
 * into a frame Bun received (`subarray`, which a TextDecoder needs) costs about 0.2 µs, as
 * JavaScriptCore then gives the frame an ArrayBuffer of its own; in the 1:1 bench those views
 * were a twentieth of the server's samples. latin1Slice and a copy by index make no view.
 */
let srcBuffer: Latin1Slicer | null = null;
let copyBins = false;
let pos = 0;
let end = 0;
/** 8-byte numbers are copied here to be read: a DataView per frame would cost more than the copy. */
const word = new Uint8Array(8);
const wordView = new DataView(word.buffer);

/**
 * Short strings recur from frame to frame: map keys ("conv", "seq"), and conversation, user and
 * device ids. Each native decode costs about 0.2 µs on Bun (a view, a call), more than hashing
 * and comparing the bytes, so fixstr strings are kept in a small direct-mapped table by their
 * bytes, and so is a message's conversation id (33 bytes, a str8), which every message of a
 * conversation repeats. A message's other long string, the client's id, is not: each is new, so
 * a table would only add a copy to the decode.
 */
const SLOTS = 4096;
/** Bytes a slot holds: strings as long as this or longer are decoded every time. */
const SLOT_BYTES = 64;
const slotLen = new Int8Array(SLOTS).fill(-1);
const slotBytes = new Uint8Array(SLOTS * SLOT_BYTES);
const slotStr: string[] = new Array<string>(SLOTS).fill("");

class Unreadable extends Error {}

interface Latin1Slicer extends Uint8Array {
  latin1Slice(start: number, end: number): string;
}

function asLatin1Slicer(buf: Uint8Array): Latin1Slicer | null {
  return typeof (buf as Partial<Latin1Slicer>).latin1Slice === "function" ? (buf as Latin1Slicer) : null;
}

/** Bins of up to this many bytes are copied by index: a native copy needs a view of the frame. */
const COPY_BY_INDEX_BYTES = 256;

/**
 * The value `buf` holds (it must hold exactly one), or NOT_READ when msgpackr must read it.
 * `bins`: "copy" gives each bin as a copy of its bytes, for values kept after the frame (the
 * server's commands: a SEND's body lives on in the store's batch and in deliveries); "view" as a
 * view into the frame, cheaper where a value is used and dropped (a client reading pushes: in the
 * group bench the copy cost the generator, whose core is the limit, a tenth of its deliveries).
 */
export function readFrame(buf: Uint8Array, bins: "copy" | "view"): unknown {
  src = buf;
  srcBuffer = asLatin1Slicer(buf);
  copyBins = bins === "copy";
  pos = 0;
  end = buf.length;
  try {
    const v = read();
    if (pos !== end) throw new Error(`${end - pos} bytes after the frame's value`);
    return v;
  } catch (e) {
    if (e instanceof Unreadable) return NOT_READ;
    throw e;
  } finally {
    src = EMPTY;
    srcBuffer = null;
  }
}

/**
 * The message of a push of `kind` whose body is a message map (a MESSAGE push, as packMessageFrame
 * writes it), built as one object literal: the value readFrame gives for the push's body (the
 * same keys and values), or NOT_READ when `buf` (from `start` to `stop`: a frame of a batch) is
 * not such a push or its map is not a message's nine keys once each, plus any others (readFrame
 * reads those). readMap adds keys by name one at a time at one place, which a receiving client
 * reaches with every key of every frame: in the group bench that place was an eighth of the
 * generator's CPU, the most of any in the reader.
 */
export function readMessagePush(buf: Uint8Array, type: number, kind: number, start = 0, stop = buf.length): Record<string, unknown> | typeof NOT_READ {
  // fixarray of 3, two positive fixints, then a fixmap or a map16.
  if (stop - start < 5 || buf[start] !== 0x93 || buf[start + 1] !== type || buf[start + 2] !== kind || type >= 0x80 || kind >= 0x80) return NOT_READ;
  src = buf;
  srcBuffer = asLatin1Slicer(buf);
  copyBins = false;
  pos = start + 3;
  end = stop;
  try {
    const t = src[pos++]!;
    const n = t >= 0x80 && t < 0x90 ? t & 0x0f : t === 0xde ? readUint(2) : -1;
    if (n < 0) return NOT_READ;
    const m = readMessage(n);
    return pos === end ? m : NOT_READ;
  } catch (e) {
    if (e instanceof Unreadable) return NOT_READ;
    throw e;
  } finally {
    src = EMPTY;
    srcBuffer = null;
  }
}

const KEY_INDEX = new Map<unknown, number>(MESSAGE_KEYS.map((k, i) => [k, i]));
const CONV = MESSAGE_KEYS.indexOf("conv");
/** Bits of the keys every message has, as readMessage counts them (bit i: MESSAGE_KEYS[i]). */
const ALL_REQUIRED = (1 << REQUIRED_MESSAGE_KEYS) - 1;
/** readMessage's values by key index, cleared after each message (the reader is not re-entered). */
const fields: unknown[] = new Array<unknown>(MESSAGE_KEYS.length).fill(undefined);

/**
 * The index of the message key at `pos`, looking from index `from` on, and moves past it; -1 (and
 * stays) when it is none of them. Keys come in the writer's order, so the first look nearly always hits.
 */
function messageKeyAt(from: number): number {
  for (let k = from; k < MESSAGE_KEY_BYTES.length; k++) {
    const key = MESSAGE_KEY_BYTES[k]!;
    if (pos + key.length > end) continue;
    let i = 0;
    while (i < key.length && src[pos + i] === key[i]) i++;
    if (i === key.length) {
      pos += key.length;
      return k;
    }
  }
  return -1;
}

function readMessage(n: number): Record<string, unknown> | typeof NOT_READ {
  const m = readMessageFields(n);
  // What the fields held now lives in `m` or nowhere: the scratch list keeps nothing alive.
  fields.fill(undefined);
  return m;
}

function readMessageFields(n: number): Record<string, unknown> | typeof NOT_READ {
  need(n * 2);
  let seen = 0;
  let next = 0;
  let others: [string, unknown][] | null = null;
  for (let i = 0; i < n; i++) {
    let f = messageKeyAt(next);
    let key: unknown;
    if (f >= 0) next = f + 1;
    else {
      // Another key, or a message key out of the writer's order (another encoder).
      key = read();
      f = KEY_INDEX.get(key) ?? -1;
    }
    const v = f === CONV ? readRecurring() : read();
    if (f < 0) {
      // Not a string key, or one seen twice: readFrame reads the map as it reads any other.
      if (typeof key !== "string" || key === "__proto__" || others?.some((o) => o[0] === key)) return NOT_READ;
      (others ??= []).push([key, v]);
      continue;
    }
    if (seen & (1 << f)) return NOT_READ;
    seen |= 1 << f;
    fields[f] = v;
  }
  if ((seen & ALL_REQUIRED) !== ALL_REQUIRED) return NOT_READ;
  const m: Record<string, unknown> = { conv: fields[0], seq: fields[1], id: fields[2], from: fields[3], dev: fields[4], cid: fields[5], kind: fields[6], body: fields[7], ts: fields[8] };
  for (let f = REQUIRED_MESSAGE_KEYS; f < MESSAGE_KEYS.length; f++) if (seen & (1 << f)) m[MESSAGE_KEYS[f]!] = fields[f];
  if (others) for (const [k, v] of others) m[k] = v;
  return m;
}

function need(n: number): void {
  if (pos + n > end) throw new Error("Unexpected end of MessagePack data");
}

/** A value that recurs from frame to frame (a conversation id): a string shorter than a slot comes from the table. */
function readRecurring(): unknown {
  if (pos + 1 >= end || src[pos] !== 0xd9 || src[pos + 1]! >= SLOT_BYTES) return read();
  pos += 2;
  return readShortString(src[pos - 1]!);
}

function read(): unknown {
  need(1);
  const t = src[pos++]!;
  if (t < 0x80) return t;
  if (t < 0x90) return readMap(t & 0x0f);
  if (t < 0xa0) return readArray(t & 0x0f);
  if (t < 0xc0) return readShortString(t & 0x1f);
  if (t >= 0xe0) return t - 0x100;
  switch (t) {
    case 0xc0:
      return null;
    case 0xc2:
      return false;
    case 0xc3:
      return true;
    case 0xc4:
      return readBin(readUint(1));
    case 0xc5:
      return readBin(readUint(2));
    case 0xc6:
      return readBin(readUint(4));
    case 0xca:
      return readWord(4).getFloat32(0);
    case 0xcb:
      return readWord(8).getFloat64(0);
    case 0xcc:
      return readUint(1);
    case 0xcd:
      return readUint(2);
    case 0xce:
      return readUint(4);
    case 0xcf:
      return readWord(8).getBigUint64(0);
    case 0xd0:
      return (readUint(1) << 24) >> 24;
    case 0xd1:
      return (readUint(2) << 16) >> 16;
    case 0xd2:
      return readUint(4) | 0;
    case 0xd3:
      return readWord(8).getBigInt64(0);
    case 0xd4:
      // fixext 1 of type 0 is msgpackr's undefined; any other extension is msgpackr's to read.
      need(2);
      if (src[pos] !== 0) throw new Unreadable();
      pos += 2;
      return undefined;
    case 0xd9:
      return readString(readUint(1));
    case 0xda:
      return readString(readUint(2));
    case 0xdb:
      return readString(readUint(4));
    case 0xdc:
      return readArray(readUint(2));
    case 0xdd:
      return readArray(readUint(4));
    case 0xde:
      return readMap(readUint(2));
    case 0xdf:
      return readMap(readUint(4));
    default:
      throw new Unreadable();
  }
}

function readUint(bytes: 1 | 2 | 4): number {
  need(bytes);
  const p = pos;
  pos += bytes;
  if (bytes === 1) return src[p]!;
  if (bytes === 2) return (src[p]! << 8) | src[p + 1]!;
  return ((src[p]! << 24) | (src[p + 1]! << 16) | (src[p + 2]! << 8) | src[p + 3]!) >>> 0;
}

/** The next `n` bytes (4 or 8), big-endian as they are, for reading through wordView at 0. */
function readWord(n: 4 | 8): DataView {
  need(n);
  for (let i = 0; i < n; i++) word[i] = src[pos + i]!;
  pos += n;
  return wordView;
}

function readMap(n: number): Record<string, unknown> {
  // Each entry takes at least two bytes: a length past the end is refused before anything is made.
  need(n * 2);
  const o: Record<string, unknown> = {};
  for (let i = 0; i < n; i++) {
    let k = read();
    if (k === "__proto__") k = "__proto_";
    // A conversation id (a command's "conv") from the table: besides the decode it saves, every
    // Map keyed by conversation then finds the very string it holds, its hash already computed.
    o[k as string] = k === "conv" ? readRecurring() : read();
  }
  return o;
}

function readArray(n: number): unknown[] {
  need(n);
  const a = new Array<unknown>(n);
  for (let i = 0; i < n; i++) a[i] = read();
  return a;
}

/**
 * A copy, when asked: Bun's young collections slow down with every view kept into a received
 * frame (bench/gc-pressure.bench.ts: view, copy). A longer bin is copied through a view, dropped at once.
 */
function readBin(n: number): Uint8Array {
  need(n);
  const p = pos;
  pos += n;
  if (!copyBins) return src.subarray(p, pos);
  const bin = new Uint8Array(n);
  if (n <= COPY_BY_INDEX_BYTES) for (let i = 0; i < n; i++) bin[i] = src[p + i]!;
  else bin.set(src.subarray(p, pos));
  return bin;
}

/** UTF-8 with the replacement character for bad bytes, as msgpackr decodes it. */
function readString(n: number): string {
  need(n);
  const p = pos;
  pos += n;
  return n === 0 ? "" : decodeAt(p, n);
}

/** The `n` bytes at `p` as UTF-8: ASCII from a Buffer without a view (srcBuffer), the rest by the decoder. */
function decodeAt(p: number, n: number): string {
  if (srcBuffer !== null) {
    let i = p;
    while (i < p + n && src[i]! < 0x80) i++;
    if (i === p + n) return srcBuffer.latin1Slice(p, p + n);
  }
  return utf8.decode(src.subarray(p, p + n));
}

/** A string of under SLOT_BYTES bytes, from the table when the same bytes were read before. */
function readShortString(n: number): string {
  need(n);
  const p = pos;
  // The last 8 bytes pick the slot: ids differ most at their ends, and a collision costs a decode.
  let h = n;
  for (let i = n > 8 ? p + n - 8 : p; i < p + n; i++) h = Math.imul(h ^ src[i]!, 0x01000193);
  const slot = (h >>> 0) & (SLOTS - 1);
  pos = p + n;
  const base = slot * SLOT_BYTES;
  if (slotLen[slot] === n) {
    let i = 0;
    while (i < n && slotBytes[base + i] === src[p + i]) i++;
    if (i === n) return slotStr[slot]!;
  }
  const str = n === 0 ? "" : decodeAt(p, n);
  slotLen[slot] = n;
  for (let i = 0; i < n; i++) slotBytes[base + i] = src[p + i]!;
  slotStr[slot] = str;
  return str;
}
