// Access tokens: JWTs naming a user (`sub`) and a device (`dev`), checked by the edge at upgrade.

import { errors, jwtVerify, SignJWT, type JWTPayload } from "jose";
import { KeyLookupError, type Keyring, type SigningKey } from "./keyring.ts";

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

export async function verifyAccessToken(token: string, keyring: Keyring, opts: VerifyOptions): Promise<AccessClaims> {
  if (token.length > MAX_TOKEN_CHARS) {
    throw new AuthError("malformed", `access token is longer than ${MAX_TOKEN_CHARS} characters`);
  }
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(token, keyring.resolve, {
      algorithms: keyring.algorithms,
      audience: opts.audience,
      issuer: opts.issuer,
      clockTolerance: opts.clockToleranceSec ?? DEFAULT_CLOCK_TOLERANCE_SEC,
      currentDate: opts.nowMs === undefined ? undefined : new Date(opts.nowMs),
      requiredClaims: ["exp", "sub", "dev"],
    }));
  } catch (err) {
    throw toAuthError(err);
  }
  const { sub, dev, exp, iat, scope } = payload;
  if (!isId(sub)) throw new AuthError("bad-claims", `"sub" must match ${ID_PATTERN}`);
  if (!isId(dev)) throw new AuthError("bad-claims", `"dev" must match ${ID_PATTERN}`);
  // jose has already checked that exp is present and numeric; this narrows the type.
  if (typeof exp !== "number") throw new AuthError("bad-claims", `"exp" must be a number`);
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

/** jose's messages describe the check that failed and never quote the token, so they are kept. */
function toAuthError(err: unknown): Error {
  if (err instanceof KeyLookupError) return new AuthError(err.reason, err.message);
  // Anything else that is not a jose error is a bug here, not a bad token: let it surface as such.
  if (!(err instanceof errors.JOSEError)) return err instanceof Error ? err : new Error(String(err));
  return new AuthError(reasonFor(err), err.message);
}

function reasonFor(err: errors.JOSEError): AuthFailure {
  if (err instanceof errors.JWTExpired) return "expired";
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === "aud") return "bad-audience";
    if (err.claim === "iss") return "bad-issuer";
    return "bad-claims";
  }
  if (err instanceof errors.JWSSignatureVerificationFailed) return "bad-signature";
  if (err instanceof errors.JOSEAlgNotAllowed || err instanceof errors.JOSENotSupported) return "bad-algorithm";
  // JWSInvalid, JWTInvalid and the rest: the token is not a well-formed signed JWT.
  return "malformed";
}
