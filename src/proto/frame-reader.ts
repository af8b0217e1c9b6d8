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

export const NOT_READ: unique symbol = Symbol("not read");

const utf8 = new TextDecoder();
const EMPTY = new Uint8Array(0);

let src: Uint8Array = EMPTY;
let copyBins = false;
let pos = 0;
let end = 0;
/** 8-byte numbers are copied here to be read: a DataView per frame would cost more than the copy. */
const word = new Uint8Array(8);
const wordView = new DataView(word.buffer);

/**
 * Short strings recur from frame to frame: map keys ("conv", "seq"), and conversation, user and
 * device ids. Each native decode costs about 0.2 µs on Bun (a view, a call), more than hashing
 * and comparing 31 bytes, so fixstr strings are kept in a small direct-mapped table by their bytes.
 */
const SLOTS = 4096;
const slotLen = new Int8Array(SLOTS).fill(-1);
const slotBytes = new Uint8Array(SLOTS * 32);
const slotStr: string[] = new Array<string>(SLOTS).fill("");

class Unreadable extends Error {}

/**
 * The value `buf` holds (it must hold exactly one), or NOT_READ when msgpackr must read it.
 * `bins`: "copy" gives each bin as a copy of its bytes, for values kept after the frame (the
 * server's commands: a SEND's body lives on in the store's batch and in deliveries); "view" as a
 * view into the frame, cheaper where a value is used and dropped (a client reading pushes: in the
 * group bench the copy cost the generator, whose core is the limit, a tenth of its deliveries).
 */
export function readFrame(buf: Uint8Array, bins: "copy" | "view"): unknown {
  src = buf;
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
  }
}

function need(n: number): void {
  if (pos + n > end) throw new Error("Unexpected end of MessagePack data");
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
    o[k as string] = read();
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
 * frame (bench/gc-pressure.bench.ts: view, copy). The view made here to copy from is dropped at once.
 */
function readBin(n: number): Uint8Array {
  need(n);
  const view = src.subarray(pos, (pos += n));
  if (!copyBins) return view;
  const bin = new Uint8Array(n);
  bin.set(view);
  return bin;
}

/** UTF-8 with the replacement character for bad bytes, as msgpackr decodes it. */
function readString(n: number): string {
  need(n);
  pos += n;
  return n === 0 ? "" : utf8.decode(src.subarray(pos - n, pos));
}

/** A fixstr (under 32 bytes), from the table when the same bytes were read before. */
function readShortString(n: number): string {
  need(n);
  const p = pos;
  let h = n;
  for (let i = 0; i < n; i++) h = Math.imul(h ^ src[p + i]!, 0x01000193);
  const slot = (h >>> 0) & (SLOTS - 1);
  pos = p + n;
  const base = slot * 32;
  if (slotLen[slot] === n) {
    let i = 0;
    while (i < n && slotBytes[base + i] === src[p + i]) i++;
    if (i === n) return slotStr[slot]!;
  }
  const str = n === 0 ? "" : utf8.decode(src.subarray(p, p + n));
  slotLen[slot] = n;
  for (let i = 0; i < n; i++) slotBytes[base + i] = src[p + i]!;
  slotStr[slot] = str;
  return str;
}
