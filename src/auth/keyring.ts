// Keys that sign and verify access tokens, loaded from JWK Set files.
// The verify side (Keyring) only ever needs public parts, held as fast-jwt takes them (tokens.ts
// verifies synchronously); the signing side (SigningKey, jose) is for the `token` CLI, the
// embedded single-node mode and tests.

import { createPublicKey, randomBytes, type JsonWebKey } from "node:crypto";
import { access, mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { importJWK, type JWK } from "jose";
import { assertPrivateFile } from "../connect/files.ts";
import { createSecretFileOnce } from "../secret-file.ts";

/** What a key file may declare for each algorithm. `minBits` is the length of `k` (oct) or `n` (RSA). */
const KEY_SHAPES = {
  // RFC 7518 §3.2: an HMAC key must be at least as long as the hash output.
  HS256: { kty: "oct", minBits: 256 },
  HS384: { kty: "oct", minBits: 384 },
  HS512: { kty: "oct", minBits: 512 },
  EdDSA: { kty: "OKP", crv: "Ed25519" },
  ES256: { kty: "EC", crv: "P-256" },
  // Shorter moduli are weak (RFC 7518 §3.3); refused at load time, so a bad key file stops the start.
  RS256: { kty: "RSA", minBits: 2048 },
} as const satisfies Record<string, { kty: string; crv?: string; minBits?: number }>;

export type KeyAlgorithm = keyof typeof KEY_SHAPES;

/** JWK members that make an asymmetric key private; stripped before building the verify keyring. */
const PRIVATE_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "oth"] as const;

interface KeyEntry {
  kid: string;
  alg: KeyAlgorithm;
  jwk: JWK;
}

/** A key that verifies tokens, pinned to one algorithm. */
export interface VerifyKey {
  kid: string;
  alg: KeyAlgorithm;
  /** As fast-jwt takes it: the HMAC secret's bytes, or the public key in PEM (SPKI). */
  material: Buffer | string;
}

/** Verification keys by kid. */
export interface Keyring {
  /** The key for a token header's `kid` and `alg` (both attacker-supplied); throws KeyLookupError. */
  key(kid: unknown, alg: unknown): VerifyKey;
}

/** Why the resolver refused a token header; tokens.ts maps it to an AuthError reason. */
export class KeyLookupError extends Error {
  override name = "KeyLookupError";
  constructor(
    readonly reason: "unknown-key" | "bad-algorithm",
    message: string,
  ) {
    super(message);
  }
}

/** Private key material for minting tokens. */
export interface SigningKey {
  kid: string;
  alg: KeyAlgorithm;
  key: CryptoKey | Uint8Array;
}

export async function loadKeyring(path: string): Promise<Keyring> {
  const entries = await readJwkSet(path);
  const keys = new Map<string, VerifyKey>();
  for (const [i, entry] of entries.entries()) keys.set(entry.kid, { kid: entry.kid, alg: entry.alg, material: verifyMaterial(path, i, entry) });
  return {
    key(kid, alg) {
      const found = typeof kid === "string" ? keys.get(kid) : undefined;
      if (!found) {
        // The kid is attacker-supplied: quote it, bounded, so it cannot flood or forge log lines.
        const shown = typeof kid === "string" ? JSON.stringify(kid.slice(0, 64)) : "(none)";
        throw new KeyLookupError("unknown-key", `no key with kid ${shown} in the keyring`);
      }
      // Pinning the alg to the key stops algorithm confusion (e.g. HS256 keyed with a public key).
      if (alg !== found.alg) {
        throw new KeyLookupError("bad-algorithm", `key ${JSON.stringify(kid)} is for ${found.alg}, not the token's alg`);
      }
      return found;
    },
  };
}

/**
 * Picks the private key to mint with: the one named by `kid`, or the only private key in the file.
 * Private means an `oct` key or an asymmetric JWK carrying `d`.
 */
export async function loadSigningKey(path: string, kid?: string): Promise<SigningKey> {
  const entries = await readJwkSet(path);
  const isPrivate = (e: KeyEntry) => e.jwk.kty === "oct" || typeof e.jwk.d === "string";
  let index: number;
  if (kid !== undefined) {
    index = entries.findIndex((e) => e.kid === kid);
    if (index < 0) throw new Error(`${path}: no key with kid ${JSON.stringify(kid)}`);
    if (!isPrivate(entries[index]!)) throw new Error(`${path}: key ${JSON.stringify(kid)} has no private part ("d")`);
  } else {
    const candidates = entries.flatMap((e, i) => (isPrivate(e) ? [i] : []));
    if (candidates.length !== 1) {
      const kids = candidates.map((i) => entries[i]!.kid).join(", ");
      throw new Error(
        candidates.length === 0
          ? `${path}: no private key (oct, or a JWK with "d")`
          : `${path}: several private keys (${kids}); name one by kid`,
      );
    }
    index = candidates[0]!;
  }
  const entry = entries[index]!;
  return { kid: entry.kid, alg: entry.alg, key: await importKey(path, index, entry, entry.jwk) };
}

/**
 * Embedded single-node mode has no external auth service, so the server makes its own HS256 key in
 * `<dataDir>/jwks.json` on first start and keeps it afterwards (tokens minted earlier stay valid).
 */
export async function ensureEmbeddedKeyring(dataDir: string): Promise<string> {
  const path = join(dataDir, "jwks.json");
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  if (await exists(path)) return path;

  const jwks = {
    keys: [
      {
        kty: "oct",
        kid: `embedded-${randomBytes(4).toString("hex")}`,
        alg: "HS256",
        use: "sig",
        k: randomBytes(32).toString("base64url"),
      },
    ],
  };
  // Two processes starting together cannot overwrite each other's key.
  await createSecretFileOnce(path, jwks);
  return path;
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/** Reads and validates a JWK Set; errors name the file and the key index. */
async function readJwkSet(path: string): Promise<KeyEntry[]> {
  let doc: unknown;
  try {
    doc = JSON.parse(await readFile(path, "utf8"));
  } catch (err) {
    throw new Error(`${path}: cannot read JWK Set: ${(err as Error).message}`);
  }
  const keys = isObject(doc) ? doc.keys : undefined;
  if (!Array.isArray(keys) || keys.length === 0) {
    throw new Error(`${path}: expected a JWK Set {"keys":[...]} with at least one key`);
  }
  const seen = new Set<string>();
  const entries = keys.map((jwk: unknown, i) => {
    const entry = checkKey(path, i, jwk);
    if (seen.has(entry.kid)) throw new Error(`${path}: key #${i}: duplicate kid ${JSON.stringify(entry.kid)}`);
    seen.add(entry.kid);
    return entry;
  });
  // HMAC keys and private keys sign tokens for any user: such a file must not be readable by others.
  if (entries.some((e) => e.jwk.kty === "oct" || PRIVATE_MEMBERS.some((m) => m in e.jwk))) assertPrivateFile("auth.keysFile", path);
  return entries;
}

function checkKey(path: string, i: number, jwk: unknown): KeyEntry {
  const fail = (why: string) => new Error(`${path}: key #${i}: ${why}`);
  if (!isObject(jwk)) throw fail("not a JSON object");
  const { kid, alg, kty, crv, use } = jwk;
  if (typeof kid !== "string" || kid === "") throw fail(`missing "kid" (every key needs one so tokens can name it)`);
  if (typeof alg !== "string" || alg === "") throw fail(`missing "alg" (every key is pinned to one algorithm)`);
  if (!Object.hasOwn(KEY_SHAPES, alg)) {
    throw fail(`unsupported alg ${JSON.stringify(alg)} (expected one of ${Object.keys(KEY_SHAPES).join(", ")})`);
  }
  const shape: { kty: string; crv?: string; minBits?: number } = KEY_SHAPES[alg as KeyAlgorithm];
  if (kty !== shape.kty) throw fail(`alg ${alg} needs kty ${shape.kty}, got ${JSON.stringify(kty)}`);
  if (shape.crv !== undefined && crv !== shape.crv) throw fail(`alg ${alg} needs crv ${shape.crv}, got ${JSON.stringify(crv)}`);
  if (use !== undefined && use !== "sig") throw fail(`"use" is ${JSON.stringify(use)}, expected "sig"`);
  if (shape.minBits !== undefined) {
    const member = kty === "oct" ? "k" : "n";
    const value = jwk[member];
    if (typeof value !== "string") throw fail(`missing "${member}"`);
    const bits = Buffer.from(value, "base64url").length * 8;
    if (bits < shape.minBits) throw fail(`"${member}" is ${bits} bits; ${alg} needs at least ${shape.minBits}`);
  }
  return { kid, alg: alg as KeyAlgorithm, jwk: jwk as JWK };
}

function publicPart(jwk: JWK): JWK {
  const copy: Record<string, unknown> = { ...jwk };
  for (const member of PRIVATE_MEMBERS) delete copy[member];
  return copy as JWK;
}

async function importKey(path: string, i: number, entry: KeyEntry, jwk: JWK): Promise<CryptoKey | Uint8Array> {
  try {
    return await importJWK(jwk, entry.alg);
  } catch (err) {
    throw cannotImport(path, i, entry, err);
  }
}

/** The verify side's key: the secret's bytes (oct), or the public part as PEM. */
function verifyMaterial(path: string, i: number, entry: KeyEntry): Buffer | string {
  if (entry.jwk.kty === "oct") return Buffer.from(entry.jwk.k!, "base64url");
  try {
    return createPublicKey({ key: publicPart(entry.jwk) as JsonWebKey, format: "jwk" }).export({ type: "spki", format: "pem" }).toString();
  } catch (err) {
    throw cannotImport(path, i, entry, err);
  }
}

const cannotImport = (path: string, i: number, entry: KeyEntry, err: unknown) =>
  new Error(`${path}: key #${i} (kid ${JSON.stringify(entry.kid)}): cannot import: ${(err as Error).message}`);

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
