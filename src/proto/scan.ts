// Structural pre-check of a MessagePack value, run before msgpackr sees the bytes.
// It walks the encoding without allocating, so a hostile frame (a length prefix of 4 GiB,
// nesting 10,000 deep, an extension type, a `__proto__` key) is refused before any decoder
// builds objects from it. Pure: no I/O; the walk's position lives in module state for the length
// of one call (every client frame is scanned, and closures or a DataView per call cost more than
// the walk itself).

import type { DecodeLimits } from "./limits.ts";

export type ScanFailure =
  | "truncated"
  | "trailing-bytes"
  | "too-deep"
  | "too-many-items"
  | "string-too-long"
  | "extension-type"
  | "reserved-byte"
  | "non-string-key"
  | "forbidden-key";

// The prototype keys could pollute objects; `toJSON` is called as a method by serializers
// (msgpackr calls any truthy one), so a SYNC cursor named "toJSON" could not be encoded again.
const FORBIDDEN_KEYS = new Set(["__proto__", "constructor", "prototype", "toJSON"]);
/** Only keys of these lengths are decoded to be compared: most keys are skipped unread. */
const FORBIDDEN_LENGTHS = new Set([...FORBIDDEN_KEYS].map((k) => k.length));
const textDecoder = new TextDecoder("utf-8", { fatal: false });
const EMPTY = new Uint8Array(0);

class ScanError {
  constructor(readonly reason: ScanFailure) {}
}

let buf: Uint8Array = EMPTY;
let pos = 0;
let lim: DecodeLimits;

/** Returns null when `bytes` holds exactly one well-formed value within `limits`, else the reason. */
export function scanMsgpack(bytes: Uint8Array, limits: DecodeLimits): ScanFailure | null {
  buf = bytes;
  pos = 0;
  lim = limits;
  try {
    value(0);
    return pos === buf.length ? null : "trailing-bytes";
  } catch (e) {
    if (e instanceof ScanError) return e.reason;
    throw e;
  } finally {
    buf = EMPTY;
  }
}

function need(n: number): void {
  if (pos + n > buf.length) throw new ScanError("truncated");
}

function u8(): number {
  need(1);
  return buf[pos++]!;
}

function u16(): number {
  need(2);
  const v = (buf[pos]! << 8) | buf[pos + 1]!;
  pos += 2;
  return v;
}

function u32(): number {
  need(4);
  const v = ((buf[pos]! << 24) | (buf[pos + 1]! << 16) | (buf[pos + 2]! << 8) | buf[pos + 3]!) >>> 0;
  pos += 4;
  return v;
}

function skip(n: number): void {
  need(n);
  pos += n;
}

function container(n: number, depth: number, isMap: boolean): void {
  if (depth > lim.maxDepth) throw new ScanError("too-deep");
  if (n > lim.maxContainerItems) throw new ScanError("too-many-items");
  // Every entry takes at least one byte: a count beyond what is left is a lie, refuse it now.
  if (n * (isMap ? 2 : 1) > buf.length - pos) throw new ScanError("truncated");
  for (let i = 0; i < n; i++) {
    if (isMap) key();
    value(depth);
  }
}

function str(len: number): void {
  if (len > lim.maxStringBytes) throw new ScanError("string-too-long");
  skip(len);
}

function key(): void {
  const b = u8();
  let len: number;
  if (b >= 0xa0 && b <= 0xbf) len = b & 0x1f;
  else if (b === 0xd9) len = u8();
  else if (b === 0xda) len = u16();
  else if (b === 0xdb) len = u32();
  else throw new ScanError("non-string-key");
  if (len > lim.maxStringBytes) throw new ScanError("string-too-long");
  need(len);
  if (FORBIDDEN_LENGTHS.has(len)) {
    const k = textDecoder.decode(buf.subarray(pos, pos + len));
    if (FORBIDDEN_KEYS.has(k)) throw new ScanError("forbidden-key");
  }
  pos += len;
}

function value(depth: number): void {
  const b = u8();
  if (b <= 0x7f || b >= 0xe0) return; // fixint
  if (b <= 0x8f) return container(b & 0x0f, depth + 1, true);
  if (b <= 0x9f) return container(b & 0x0f, depth + 1, false);
  if (b <= 0xbf) return str(b & 0x1f);
  switch (b) {
    case 0xc0:
    case 0xc2:
    case 0xc3:
      return;
    case 0xc1:
      throw new ScanError("reserved-byte");
    case 0xc4:
      return skip(u8());
    case 0xc5:
      return skip(u16());
    case 0xc6:
      return skip(u32());
    case 0xca:
      return skip(4);
    case 0xcb:
      return skip(8);
    case 0xcc:
    case 0xd0:
      return skip(1);
    case 0xcd:
    case 0xd1:
      return skip(2);
    case 0xce:
    case 0xd2:
      return skip(4);
    case 0xcf:
    case 0xd3:
      return skip(8);
    case 0xd9:
      return str(u8());
    case 0xda:
      return str(u16());
    case 0xdb:
      return str(u32());
    case 0xdc:
      return container(u16(), depth + 1, false);
    case 0xdd:
      return container(u32(), depth + 1, false);
    case 0xde:
      return container(u16(), depth + 1, true);
    case 0xdf:
      return container(u32(), depth + 1, true);
    default:
      // 0xc7-0xc9 ext8/16/32 and 0xd4-0xd8 fixext: timestamps, records, structured clone. Never accepted.
      throw new ScanError("extension-type");
  }
}
