import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHmac, randomBytes } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { base64url, exportJWK, generateKeyPair, SignJWT, type JWK } from "jose";
import { ensureEmbeddedKeyring, loadKeyring, loadSigningKey, type SigningKey } from "../../src/auth/keyring.ts";
import {
  AuthError,
  MAX_TOKEN_CHARS,
  mintAccessToken,
  redactToken,
  verifyAccessToken,
  type AuthFailure,
} from "../../src/auth/tokens.ts";

const AUD = "msgr-test";
const BASE = { user: "alice", device: "phone-1", ttlSec: 600, audience: AUD };

let dir: string;
let fileCount = 0;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "msgr-auth-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function writeJwks(keys: JWK[]): Promise<string> {
  const path = join(dir, `jwks-${++fileCount}.json`);
  await writeFile(path, JSON.stringify({ keys }), { mode: 0o600 });
  return path;
}

function hsKey(kid: string, secret = randomBytes(32)): JWK {
  return { kty: "oct", kid, alg: "HS256", k: secret.toString("base64url") };
}

async function keyPair(alg: "EdDSA" | "ES256" | "RS256", kid: string): Promise<{ pub: JWK; priv: JWK }> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  return {
    pub: { ...(await exportJWK(publicKey)), kid, alg },
    priv: { ...(await exportJWK(privateKey)), kid, alg },
  };
}

/** Signs arbitrary claims under an arbitrary header, bypassing mintAccessToken's own checks. */
async function signRaw(key: SigningKey, claims: Record<string, unknown>, header: Record<string, unknown> = {}) {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ iat: now, exp: now + 600, aud: AUD, ...claims })
    .setProtectedHeader({ alg: key.alg, kid: key.kid, ...header })
    .sign(key.key);
}

/** Asserts the refusal reason, and that the error text leaks no part of the token that matters. */
async function expectRefused(token: string, keyringPath: string, reason: AuthFailure, opts = {}) {
  const keyring = await loadKeyring(keyringPath);
  let err: unknown;
  try {
    verifyAccessToken(token, keyring, { audience: AUD, ...opts });
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(AuthError);
  expect((err as AuthError).reason).toBe(reason);
  const message = (err as AuthError).message;
  expect(message).not.toContain(token.slice(0, 200));
  for (const part of token.split(".")) {
    if (part.length >= 16) expect(message).not.toContain(part.slice(0, 16));
  }
}

async function setupHs(kid = "hs-1") {
  const path = await writeJwks([hsKey(kid)]);
  return { path, keyring: await loadKeyring(path), signer: await loadSigningKey(path) };
}

describe("valid tokens", () => {
  test("HS256", async () => {
    const { keyring, signer } = await setupHs();
    const nowMs = Date.now();
    const token = await mintAccessToken(signer, { ...BASE, nowMs });
    const claims = verifyAccessToken(token, keyring, { audience: AUD });
    expect(claims).toEqual({
      user: "alice",
      device: "phone-1",
      expiresAt: (Math.floor(nowMs / 1000) + 600) * 1000,
      admin: false,
    });
    expect(keyring.key("hs-1", "HS256").alg).toBe("HS256");
  });

  for (const alg of ["EdDSA", "ES256", "RS256"] as const) {
    test(`${alg} with a public-only keyring`, async () => {
      const { pub, priv } = await keyPair(alg, `${alg}-1`);
      expect(pub.d).toBeUndefined();
      const keyring = await loadKeyring(await writeJwks([pub]));
      const signer = await loadSigningKey(await writeJwks([priv]));
      const token = await mintAccessToken(signer, { ...BASE, issuer: "https://auth.example" });
      const claims = verifyAccessToken(token, keyring, { audience: AUD, issuer: "https://auth.example" });
      expect(claims.user).toBe("alice");
      expect(claims.device).toBe("phone-1");
      expect(keyring.key(`${alg}-1`, alg).alg).toBe(alg);
    });
  }

  test("a keyring file that also holds the private key verifies with its public part", async () => {
    const { priv } = await keyPair("EdDSA", "ed-priv");
    const path = await writeJwks([priv]);
    const token = await mintAccessToken(await loadSigningKey(path), BASE);
    expect((verifyAccessToken(token, await loadKeyring(path), { audience: AUD })).user).toBe("alice");
  });

  test("admin scope", async () => {
    const { keyring, signer } = await setupHs();
    const admin = await mintAccessToken(signer, { ...BASE, admin: true });
    expect((verifyAccessToken(admin, keyring, { audience: AUD })).admin).toBe(true);
    const other = await signRaw(signer, { sub: "alice", dev: "d1", scope: "admin:read" });
    expect((verifyAccessToken(other, keyring, { audience: AUD })).admin).toBe(false);
  });

  test("clock tolerance accepts a token just past exp, and nowMs moves the clock", async () => {
    const { keyring, signer } = await setupHs();
    const t0 = Date.UTC(2030, 0, 1);
    const token = await mintAccessToken(signer, { ...BASE, ttlSec: 60, nowMs: t0 });
    const claims = verifyAccessToken(token, keyring, { audience: AUD, nowMs: t0 + 70_000, clockToleranceSec: 30 });
    expect(claims.expiresAt).toBe(t0 + 60_000);
  });
});

describe("rotation", () => {
  test("old and new kid both verify; an unknown kid is refused", async () => {
    const path = await writeJwks([hsKey("old"), hsKey("new")]);
    const keyring = await loadKeyring(path);
    for (const kid of ["old", "new"]) {
      const token = await mintAccessToken(await loadSigningKey(path, kid), BASE);
      expect((verifyAccessToken(token, keyring, { audience: AUD })).user).toBe("alice");
    }
    const stranger = await mintAccessToken(await loadSigningKey(await writeJwks([hsKey("retired")])), BASE);
    await expectRefused(stranger, path, "unknown-key");
  });

  test("a token without kid is refused as unknown-key", async () => {
    const { path, signer } = await setupHs();
    await expectRefused(await signRaw(signer, { sub: "a", dev: "d" }, { kid: undefined }), path, "unknown-key");
  });
});

describe("refused tokens", () => {
  test("expired", async () => {
    const { path, signer } = await setupHs();
    const t0 = Date.now() - 3600_000;
    const token = await mintAccessToken(signer, { ...BASE, ttlSec: 60, nowMs: t0 });
    await expectRefused(token, path, "expired");
    await expectRefused(token, path, "expired", { nowMs: t0 + 61_000, clockToleranceSec: 0 });
  });

  test("forged signature under the same kid", async () => {
    const { path } = await setupHs("shared");
    const forger = await loadSigningKey(await writeJwks([hsKey("shared")]));
    await expectRefused(await mintAccessToken(forger, BASE), path, "bad-signature");
  });

  test("wrong audience, wrong issuer", async () => {
    const { path, signer } = await setupHs();
    await expectRefused(await mintAccessToken(signer, { ...BASE, audience: "someone-else" }), path, "bad-audience");
    const token = await mintAccessToken(signer, { ...BASE, issuer: "https://evil.example" });
    await expectRefused(token, path, "bad-issuer", { issuer: "https://auth.example" });
  });

  test("alg none is refused as bad-algorithm", async () => {
    const { path } = await setupHs();
    const now = Math.floor(Date.now() / 1000);
    const enc = (o: object) => base64url.encode(JSON.stringify(o));
    const header = enc({ alg: "none", typ: "JWT", kid: "hs-1" });
    const token = `${header}.${enc({ sub: "alice", dev: "d1", aud: AUD, exp: now + 600 })}.`;
    await expectRefused(token, path, "bad-algorithm");
  });

  test("HS256 header with a kid naming an EdDSA key (algorithm confusion) is refused", async () => {
    const { pub } = await keyPair("EdDSA", "ed");
    // Both algs are in the ring, so only the per-key alg pin stands between the attacker and success.
    const path = await writeJwks([pub, hsKey("hs")]);
    const publicBytes = base64url.decode(pub.x!);
    const token = await signRaw({ kid: "ed", alg: "HS256", key: publicBytes }, { sub: "alice", dev: "d1" });
    await expectRefused(token, path, "bad-algorithm");
    // With no HMAC key in the ring at all, HS256 is not even an allowed algorithm.
    await expectRefused(token, await writeJwks([pub]), "bad-algorithm");
  });

  test("missing dev, bad sub characters, non-string dev", async () => {
    const { path, signer } = await setupHs();
    await expectRefused(await signRaw(signer, { sub: "alice" }), path, "bad-claims");
    await expectRefused(await signRaw(signer, { sub: "al ice/..", dev: "d1" }), path, "bad-claims");
    await expectRefused(await signRaw(signer, { sub: "a".repeat(129), dev: "d1" }), path, "bad-claims");
    await expectRefused(await signRaw(signer, { sub: "alice", dev: 42 }), path, "bad-claims");
  });

  test("oversized token is refused before verification", async () => {
    const { path, signer } = await setupHs();
    const token = await signRaw(signer, { sub: "alice", dev: "d1", pad: "x".repeat(MAX_TOKEN_CHARS) });
    expect(token.length).toBeGreaterThan(MAX_TOKEN_CHARS);
    await expectRefused(token, path, "malformed");
  });

  test("a critical header extension is refused as malformed; a non-numeric iat as bad-claims", async () => {
    const secret = randomBytes(32);
    const path = await writeJwks([hsKey("hs-1", secret)]);
    const enc = (o: object) => base64url.encode(JSON.stringify(o));
    const now = Math.floor(Date.now() / 1000);
    // Signed by hand: jose refuses to sign a crit it does not know either.
    const signed = (header: object, claims: object) => {
      const input = `${enc(header)}.${enc(claims)}`;
      return `${input}.${createHmac("sha256", secret).update(input).digest("base64url")}`;
    };
    const claims = { sub: "alice", dev: "d1", aud: AUD, exp: now + 600 };
    await expectRefused(signed({ alg: "HS256", kid: "hs-1", crit: ["x"], x: 1 }, claims), path, "malformed");
    await expectRefused(signed({ alg: "HS256", kid: "hs-1" }, { ...claims, iat: "yesterday" }), path, "bad-claims");
    // The same token without either is accepted: the refusals are for those alone.
    expect(verifyAccessToken(signed({ alg: "HS256", kid: "hs-1" }, claims), await loadKeyring(path), { audience: AUD }).user).toBe("alice");
  });

  test("an audience list that names this server is accepted; one that does not is bad-audience", async () => {
    const { path, keyring, signer } = await setupHs();
    expect(verifyAccessToken(await signRaw(signer, { sub: "alice", dev: "d1", aud: ["other", AUD] }), keyring, { audience: AUD }).user).toBe("alice");
    await expectRefused(await signRaw(signer, { sub: "alice", dev: "d1", aud: ["other", "third"] }), path, "bad-audience");
  });

  test("garbage is malformed", async () => {
    const { path } = await setupHs();
    await expectRefused("not-a-jwt", path, "malformed");
    await expectRefused("eyJhbGciOiJIUzI1NiJ9.e30", path, "malformed");
  });
});

describe("key files", () => {
  test("a key without kid or alg is refused, naming its index", async () => {
    const good = hsKey("ok");
    const { kid: _kid, ...noKid } = hsKey("x");
    const { alg: _alg, ...noAlg } = hsKey("y");
    await expect(loadKeyring(await writeJwks([good, noKid]))).rejects.toThrow(/key #1: missing "kid"/);
    await expect(loadKeyring(await writeJwks([noAlg]))).rejects.toThrow(/key #0: missing "alg"/);
  });

  test("mismatched kty, short HMAC secret and duplicate kid are refused", async () => {
    const { pub } = await keyPair("EdDSA", "ed");
    await expect(loadKeyring(await writeJwks([{ ...pub, alg: "ES256" }]))).rejects.toThrow(/key #0: alg ES256 needs kty EC/);
    await expect(loadKeyring(await writeJwks([hsKey("short", randomBytes(16))]))).rejects.toThrow(/at least 256/);
    await expect(loadKeyring(await writeJwks([hsKey("a"), hsKey("a")]))).rejects.toThrow(/key #1: duplicate kid/);
  });

  test("loadSigningKey wants a private key and a kid when there is a choice", async () => {
    const { pub } = await keyPair("ES256", "ec");
    await expect(loadSigningKey(await writeJwks([pub]))).rejects.toThrow(/no private key/);
    await expect(loadSigningKey(await writeJwks([pub]), "ec")).rejects.toThrow(/no private part/);
    await expect(loadSigningKey(await writeJwks([hsKey("a"), hsKey("b")]))).rejects.toThrow(/several private keys/);
  });
});

describe("embedded keyring", () => {
  test("created once with mode 0600, then kept; its key mints verifiable tokens", async () => {
    const dataDir = join(dir, "data", "nested");
    const path = await ensureEmbeddedKeyring(dataDir);
    expect(path).toBe(join(dataDir, "jwks.json"));
    const first = await readFile(path, "utf8");
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(await ensureEmbeddedKeyring(dataDir)).toBe(path);
    expect(await readFile(path, "utf8")).toBe(first);

    const signer = await loadSigningKey(path);
    expect(signer.kid).toMatch(/^embedded-[0-9a-f]{8}$/);
    expect(signer.alg).toBe("HS256");
    const token = await mintAccessToken(signer, BASE);
    expect((verifyAccessToken(token, await loadKeyring(path), { audience: AUD })).device).toBe("phone-1");
  });

  test("concurrent first starts agree on one key", async () => {
    const dataDir = join(dir, "race");
    await Promise.all(Array.from({ length: 8 }, () => ensureEmbeddedKeyring(dataDir)));
    expect(await readdir(dataDir)).toEqual(["jwks.json"]);
    const keys = JSON.parse(await readFile(join(dataDir, "jwks.json"), "utf8")).keys;
    expect(keys).toHaveLength(1);
  });
});

test("redactToken keeps only a short prefix", () => {
  expect(redactToken("eyJhbGciOiJIUzI1NiJ9.payload.sig")).toBe("eyJhbG…");
});
