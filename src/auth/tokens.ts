// Access tokens: JWTs naming a user (`sub`) and a device (`dev`), checked by the edge at upgrade.

import { createVerifier, TokenError } from "fast-jwt";
import { SignJWT } from "jose";
import { BoundedMap } from "../bounded-map.ts";
import { KeyLookupError, type Keyring, type SigningKey, type VerifyKey } from "./keyring.ts";

export type AuthFailure =
  | "malformed"
  | "expired"
  | "bad-signature"
  | "bad-audience"
  | "bad-issuer"
  | "unknown-key"
  | "bad-algorithm"
  | "bad-claims"
  | "lifetime";

/** A refused token. The message never contains the token, so it is safe to log and to send back. */
export class AuthError extends Error {
  override name = "AuthError";
  constructor(
    readonly reason: AuthFailure,
    message: string,
  ) {
    super(message);
  }
}

export interface AccessClaims {
  user: string;
  device: string;
  /** Unix milliseconds. */
  expiresAt: number;
  admin: boolean;
}

export interface VerifyOptions {
  audience: string;
  issuer?: string;
  /** Allowed clock skew between the auth service and this server, for exp/nbf. */
  clockToleranceSec?: number;
  /** Longest lifetime accepted: exp - iat, and exp - now, at most this. */
  maxLifetimeSec?: number;
  /** Overrides the clock (tests). */
  nowMs?: number;
}

export interface MintClaims {
  user: string;
  device: string;
  ttlSec: number;
  audience: string;
  issuer?: string;
  admin?: boolean;
  nowMs?: number;
}

/** Longer tokens are refused unparsed, bounding the work an unauthenticated client can cause. */
export const MAX_TOKEN_CHARS = 8 * 1024;

/** User and device ids end up in storage keys and logs, so they are limited to a safe alphabet. */
const ID_PATTERN = /^[A-Za-z0-9_.@+=:-]{1,128}$/;

const DEFAULT_CLOCK_TOLERANCE_SEC = 30;

/**
 * Checks an access token and returns its claims; throws AuthError. Synchronous (fast-jwt over
 * node:crypto): the edge answers a WebSocket upgrade in the same turn it arrived, where jose's
 * WebCrypto path costs a promise hop and 4-5 times the CPU (about 90 µs against 20 for HS256).
 */
export function verifyAccessToken(token: string, keyring: Keyring, opts: VerifyOptions): AccessClaims {
  if (token.length > MAX_TOKEN_CHARS) {
    throw new AuthError("malformed", `access token is longer than ${MAX_TOKEN_CHARS} characters`);
  }
  const header = decodeHeader(token);
  let key: VerifyKey;
  try {
    key = keyring.key(header.kid, header.alg);
  } catch (err) {
    throw toAuthError(err);
  }
  let payload: Record<string, unknown>;
  try {
    payload = verifierFor(key, opts)(token) as Record<string, unknown>;
  } catch (err) {
    throw toAuthError(err);
  }
  const { sub, dev, exp, iat, scope, aud, iss } = payload;
  if (!(aud === opts.audience || (Array.isArray(aud) && aud.includes(opts.audience)))) throw new AuthError("bad-audience", `the token is not for audience ${JSON.stringify(opts.audience)}`);
  if (opts.issuer !== undefined && iss !== opts.issuer) throw new AuthError("bad-issuer", `the token is not from issuer ${JSON.stringify(opts.issuer)}`);
  if (!isId(sub)) throw new AuthError("bad-claims", `"sub" must match ${ID_PATTERN}`);
  if (!isId(dev)) throw new AuthError("bad-claims", `"dev" must match ${ID_PATTERN}`);
  // fast-jwt has already checked that exp is present and numeric; this narrows the type.
  if (typeof exp !== "number") throw new AuthError("bad-claims", `"exp" must be a number`);
  if (iat !== undefined && typeof iat !== "number") throw new AuthError("bad-claims", `"iat" must be a number`);
  if (opts.maxLifetimeSec !== undefined) {
    // Both: a token issued long ago may still be valid long into the future, and one without
    // `iat` (or with a backdated one) is judged by what is left of it.
    const now = (opts.nowMs ?? Date.now()) / 1000;
    const lifetime = Math.max(exp - now, typeof iat === "number" ? exp - iat : 0);
    if (lifetime > opts.maxLifetimeSec + (opts.clockToleranceSec ?? DEFAULT_CLOCK_TOLERANCE_SEC)) {
      throw new AuthError("lifetime", `the token lives longer than the ${opts.maxLifetimeSec} s this server accepts; ask for a shorter-lived one`);
    }
  }
  return { user: sub, device: dev, expiresAt: exp * 1000, admin: scope === "admin" };
}

type Header = { kid?: unknown; alg?: unknown };

const MALFORMED = () => new AuthError("malformed", "the access token is not a signed JWT (three base64url parts with a JSON header)");

/**
 * Accepted headers by their base64url text. An issuer signs with a handful of (kid, alg) pairs,
 * so nearly every token carries a header seen before: decoding it again was a third of a
 * verification. Bounded, so that tokens with made-up headers cannot grow it.
 */
const headers = new BoundedMap<string, Header>(64);

/** The protected header's kid and alg; a token that is not three base64url parts with a JSON header is malformed. */
function decodeHeader(token: string): Header {
  const first = token.indexOf(".");
  const second = first < 0 ? -1 : token.indexOf(".", first + 1);
  if (second < 0 || token.includes(".", second + 1)) throw MALFORMED();
  const encoded = token.slice(0, first);
  const known = headers.get(encoded);
  if (known !== undefined) return known;
  let header: unknown;
  try {
    header = JSON.parse(Buffer.from(encoded, "base64url").toString("utf8"));
  } catch {
    throw MALFORMED();
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) throw new AuthError("malformed", "the access token's header is not a JSON object");
  // RFC 7515 §4.1.11: a recipient must refuse critical extensions it does not understand; msgr understands none.
  if ("crit" in header) throw new AuthError("malformed", `the access token's header lists critical extensions ("crit"); none are supported`);
  headers.set(encoded, header);
  return header;
}

type Verify = (token: string) => unknown;

/** One fast-jwt verifier per key and options: building one parses the key. */
const verifiers = new WeakMap<VerifyKey, Map<string, Verify>>();

function verifierFor(key: VerifyKey, opts: VerifyOptions): Verify {
  const toleranceMs = (opts.clockToleranceSec ?? DEFAULT_CLOCK_TOLERANCE_SEC) * 1000;
  const make = () =>
    createVerifier({
      key: key.material,
      algorithms: [key.alg],
      clockTolerance: toleranceMs,
      requiredClaims: ["exp", "sub", "dev"],
      ...(opts.nowMs === undefined ? {} : { clockTimestamp: opts.nowMs }),
    });
  // A moved clock (tests) is not worth keeping a verifier for.
  if (opts.nowMs !== undefined) return make();
  let byOptions = verifiers.get(key);
  if (!byOptions) verifiers.set(key, (byOptions = new Map()));
  const id = String(toleranceMs);
  let v = byOptions.get(id);
  if (!v) byOptions.set(id, (v = make()));
  return v;
}

export async function mintAccessToken(key: SigningKey, claims: MintClaims): Promise<string> {
  // Refuse here what verifyAccessToken would refuse, rather than hand out tokens that never work.
  if (!isId(claims.user)) throw new RangeError(`user must match ${ID_PATTERN}`);
  if (!isId(claims.device)) throw new RangeError(`device must match ${ID_PATTERN}`);
  if (!Number.isInteger(claims.ttlSec) || claims.ttlSec <= 0) throw new RangeError("ttlSec must be a positive integer");

  const now = Math.floor((claims.nowMs ?? Date.now()) / 1000);
  const jwt = new SignJWT({ dev: claims.device, ...(claims.admin ? { scope: "admin" } : {}) })
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: "JWT" })
    .setSubject(claims.user)
    .setAudience(claims.audience)
    .setIssuedAt(now)
    .setExpirationTime(now + claims.ttlSec);
  if (claims.issuer !== undefined) jwt.setIssuer(claims.issuer);
  return jwt.sign(key.key);
}

/** A token shortened for logs: enough to tell tokens apart in a trace, useless as a credential. */
export function redactToken(s: string): string {
  return `${s.slice(0, 6)}…`;
}

function isId(v: unknown): v is string {
  return typeof v === "string" && ID_PATTERN.test(v);
}

/** fast-jwt's messages describe the check that failed and never quote the token, so they are kept. */
function toAuthError(err: unknown): Error {
  if (err instanceof AuthError) return err;
  if (err instanceof KeyLookupError) return new AuthError(err.reason, err.message);
  // Anything else that is not a fast-jwt error is a bug here, not a bad token: let it surface as such.
  if (!(err instanceof TokenError)) return err instanceof Error ? err : new Error(String(err));
  return new AuthError(reasonFor(err.code), err.message);
}

function reasonFor(code: string): AuthFailure {
  switch (code) {
    case TokenError.codes.expired:
      return "expired";
    case TokenError.codes.invalidSignature:
      return "bad-signature";
    case TokenError.codes.invalidAlgorithm:
      return "bad-algorithm";
    case TokenError.codes.inactive:
    case TokenError.codes.missingRequiredClaim:
    case TokenError.codes.invalidClaimType:
    case TokenError.codes.invalidClaimValue:
      return "bad-claims";
    default:
      // FAST_JWT_MALFORMED, FAST_JWT_INVALID_TYPE and the rest: not a well-formed signed JWT.
      return "malformed";
  }
}
