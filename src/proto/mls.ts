// What msgr's protocol fixes about MLS (RFC 9420), shared by the server and the SDK: the
// ciphersuite, how a credential names a device, and the clear-text framing of an application
// message (PrivateMessage) that the server reads on every encrypted SEND. Pure and small, with no
// MLS library behind it: the SDK's main entry imports the protocol layer, and the server's hot
// path must not decode a whole MLSMessage (ts-mls takes ~30 µs for what this does in well under one).

import { ID_PATTERN } from "./schema.ts";

/** The one ciphersuite msgr's groups and KeyPackages use (RFC 9420 §17.1, value 0x0001). */
export const MLS_CIPHERSUITE = "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519";

const MLS10 = 1;
/** WireFormat values (RFC 9420 §6). */
export const WireFormat = { PublicMessage: 1, PrivateMessage: 2, Welcome: 3, GroupInfo: 4, KeyPackage: 5 } as const;
/** ContentType values (RFC 9420 §6). */
export const ContentType = { Application: 1, Proposal: 2, Commit: 3 } as const;

const enc = new TextEncoder();
const dec = new TextDecoder("utf-8", { fatal: true });

/**
 * A device's MLS identity: the BasicCredential identity of its leaves and KeyPackages is the UTF-8
 * of "<user>/<device>" (neither id may hold a '/'). The server refuses KeyPackages naming anyone
 * but their uploader, and members check every sender against it.
 */
export function credentialIdentity(user: string, device: string): Uint8Array {
  return enc.encode(`${user}/${device}`);
}

/** The user and device a credential identity names, or null when it names none. */
export function parseIdentity(identity: Uint8Array): { user: string; device: string } | null {
  let s: string;
  try {
    s = dec.decode(identity);
  } catch {
    return null;
  }
  const i = s.indexOf("/");
  if (i < 0) return null;
  const user = s.slice(0, i);
  const device = s.slice(i + 1);
  return ID_PATTERN.test(user) && ID_PATTERN.test(device) ? { user, device } : null;
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The clear-text fields of an MLSMessage carrying a PrivateMessage. */
export interface PrivateMessageHeader {
  groupId: Uint8Array;
  epoch: number;
  contentType: number;
  /** The encrypted sender data: unique per message (it seals the sender's generation and a random reuse guard). */
  senderData: Uint8Array;
}

/** Sender data of msgr's ciphersuite: leaf index, generation and reuse guard (12 bytes), sealed with AES-128-GCM (+16). */
const SENDER_DATA_BYTES = 28;
/** AES-GCM's tag: the least a ciphertext can be. */
const TAG_BYTES = 16;

/**
 * Reads the framing of an MLSMessage holding a PrivateMessage (RFC 9420 §6.3) and checks that the
 * fields fill the bytes exactly. Returns null for anything else: another version or wire format,
 * a length that runs past the end, trailing bytes, a sender data or ciphertext of impossible size.
 * Copies nothing: the arrays returned are views of `b`.
 */
export function readPrivateMessage(b: Uint8Array): PrivateMessageHeader | null {
  // version (2) | wire_format (2) | group_id<V> | epoch (8) | content_type (1) | authenticated_data<V> | encrypted_sender_data<V> | ciphertext<V>
  if (b.length < 4 || ((b[0]! << 8) | b[1]!) !== MLS10 || ((b[2]! << 8) | b[3]!) !== WireFormat.PrivateMessage) return null;
  let at = 4;
  const groupId = vector(b, at);
  if (!groupId) return null;
  at = groupId.end;
  if (at + 9 > b.length) return null;
  const hi = ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
  const lo = ((b[at + 4]! << 24) | (b[at + 5]! << 16) | (b[at + 6]! << 8) | b[at + 7]!) >>> 0;
  // Epochs count commits: anything past 2^53 is not one msgr made.
  if (hi > 0x1f_ffff) return null;
  const epoch = hi * 0x1_0000_0000 + lo;
  const contentType = b[at + 8]!;
  at += 9;
  const aad = vector(b, at);
  if (!aad) return null;
  const senderData = vector(b, aad.end);
  if (!senderData || senderData.end - senderData.start !== SENDER_DATA_BYTES) return null;
  const ciphertext = vector(b, senderData.end);
  if (!ciphertext || ciphertext.end !== b.length || ciphertext.end - ciphertext.start < TAG_BYTES) return null;
  return { groupId: b.subarray(groupId.start, groupId.end), epoch, contentType, senderData: b.subarray(senderData.start, senderData.end) };
}

/** An opaque vector at `at` (RFC 9420 §2.1.2: a variable-length integer length, then the bytes). */
function vector(b: Uint8Array, at: number): { start: number; end: number } | null {
  if (at >= b.length) return null;
  const first = b[at]!;
  let len: number;
  let start: number;
  switch (first >> 6) {
    case 0:
      len = first & 0x3f;
      start = at + 1;
      break;
    case 1:
      if (at + 2 > b.length) return null;
      len = ((first & 0x3f) << 8) | b[at + 1]!;
      start = at + 2;
      break;
    case 2:
      if (at + 4 > b.length) return null;
      len = (((first & 0x3f) << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
      start = at + 4;
      break;
    default:
      return null;
  }
  const end = start + len;
  return end <= b.length ? { start, end } : null;
}
