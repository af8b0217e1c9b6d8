// Safety numbers: what two users compare out of band (read aloud, or side by side) to know that
// the keys their devices use are each other's, and not a server's in between. Each user's half is
// a fingerprint of the signature keys of all their devices in the group; the number is both
// halves in user-id order, so both users see the same 60 digits. It changes when either user's
// devices change.

import type { DeviceRef } from "../../proto/types.ts";

export interface DeviceKey extends DeviceRef {
  /** The device's MLS signature public key (Ed25519). */
  key: Uint8Array;
}

const enc = new TextEncoder();

function concat(parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** 30 digits fingerprinting one user's device keys. */
export async function fingerprintDigits(user: string, keys: DeviceKey[]): Promise<string> {
  const own = keys.filter((k) => k.user === user).sort((a, b) => (a.device < b.device ? -1 : a.device > b.device ? 1 : 0));
  const parts: Uint8Array[] = [enc.encode("msgr safety number v1\u0000"), enc.encode(user), new Uint8Array([0])];
  for (const k of own) parts.push(enc.encode(k.device), new Uint8Array([0, k.key.length]), k.key);
  const h = new Uint8Array(await crypto.subtle.digest("SHA-512", concat(parts)));
  let out = "";
  // Six 5-digit chunks, each from 5 bytes of the hash (as in Signal's numeric fingerprints).
  for (let i = 0; i < 6; i++) {
    let v = 0;
    for (let j = 0; j < 5; j++) v = v * 256 + h[i * 5 + j]!;
    out += String(v % 100_000).padStart(5, "0");
  }
  return out;
}

/** The 60-digit safety number of users `a` and `b`, in twelve groups of five. */
export async function safetyNumber(a: string, b: string, keys: DeviceKey[]): Promise<string> {
  const [first, second] = a < b ? [a, b] : [b, a];
  const digits = (await fingerprintDigits(first, keys)) + (await fingerprintDigits(second, keys));
  return digits.match(/\d{5}/g)!.join(" ");
}
