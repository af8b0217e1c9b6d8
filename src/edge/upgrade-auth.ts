// Who is connecting: decided once, at the WebSocket upgrade, from credentials the client
// presents in one of three ways, never from a user id in the URL:
//   Authorization: Bearer <access token>           (native clients)
//   Sec-WebSocket-Protocol: msgr.v1, bearer.<token>  (browsers cannot set headers)
//   ?ticket=<single-use ticket>                      (browsers; from POST /v1/tickets)
// Browsers must also come from an allowed Origin.

import { AuthError, verifyAccessToken, type AccessClaims } from "../auth/tokens.ts";
import type { Keyring } from "../auth/keyring.ts";
import type { Clock } from "../clock.ts";
import { then, type MaybeAsync } from "../maybe-async.ts";
import { webAppEnabled, type Config } from "../config/config.ts";
import { BEARER_SUBPROTOCOL_PREFIX, SUBPROTOCOL } from "../proto/codes.ts";
import type { UserDirectory } from "../storage/safety-types.ts";
import type { MetadataStore, TicketStore } from "../storage/types.ts";

export interface UpgradeDeps {
  config: Config;
  /** Decides ticket expiry (tests move it instead of sleeping). */
  clock: Clock;
  keyring: Keyring;
  metadata: MetadataStore;
  /** The user registry: a user is registered on first authentication, and a banned one refused. */
  users: Pick<UserDirectory, "admitUser" | "getUser">;
  tickets: TicketStore;
}

export interface Refusal {
  status: number;
  code: string;
  message: string;
}

/** The refusal for a user banned by the service's moderators (the admin API's ban). */
export const BANNED: Refusal = { status: 403, code: "user-banned", message: "this user is banned" };

export function refuse(r: Refusal, extraHeaders: Record<string, string> = {}): Response {
  return Response.json({ code: r.code, message: r.message }, { status: r.status, headers: extraHeaders });
}

/** A browser's Origin may connect when listed, or when it is this edge's own and the edge serves the web app. */
export function originAllowed(config: Config, origin: string | null, host: string | null = null): boolean {
  if (origin === null || config.server.allowedOrigins.includes(origin) || config.server.allowedOrigins.includes("*")) return true;
  return host !== null && webAppEnabled(config) && (origin === `http://${host}` || origin === `https://${host}`);
}

export function bearerToken(req: Request): string | null {
  const h = req.headers.get("authorization");
  if (!h) return null;
  const m = /^Bearer\s+(\S+)$/i.exec(h);
  return m ? m[1]! : null;
}

/** Subprotocols the client offered, trimmed. */
export function offeredSubprotocols(req: Request): string[] {
  const offered = req.headers.get("sec-websocket-protocol");
  if (!offered) return [];
  return offered
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
}

export function verify(deps: UpgradeDeps, token: string): AccessClaims | Refusal {
  const { auth } = deps.config;
  try {
    return verifyAccessToken(token, deps.keyring, {
      audience: auth.audience,
      issuer: auth.issuer || undefined,
      clockToleranceSec: auth.clockToleranceSec,
      maxLifetimeSec: auth.maxTokenLifetimeSec,
    });
  } catch (e) {
    if (e instanceof AuthError) return { status: 401, code: `token-${e.reason}`, message: e.message };
    throw e;
  }
}

/**
 * The claims of an acceptable upgrade request, or why it is refused: at once when the token is a
 * header and the stores answer synchronously (embedded), so that the edge upgrades in the
 * request's own turn; a promise otherwise (a ticket, or a networked store).
 */
export function authenticateUpgrade(deps: UpgradeDeps, req: Request, url: URL, offered = offeredSubprotocols(req)): MaybeAsync<AccessClaims | Refusal> {
  if (!originAllowed(deps.config, req.headers.get("origin"), req.headers.get("host"))) {
    return { status: 403, code: "origin-not-allowed", message: "this Origin may not connect; add it to server.allowedOrigins" };
  }
  if (url.searchParams.has("token") || url.searchParams.has("access_token")) {
    return { status: 400, code: "token-in-url", message: "access tokens in URLs are refused (they end up in logs); use a ticket or a header" };
  }
  if (offered.length > 0 && !offered.includes(SUBPROTOCOL)) {
    return { status: 400, code: "unsupported-subprotocol", message: `offer the ${SUBPROTOCOL} subprotocol` };
  }

  const ticket = url.searchParams.get("ticket");
  const token = bearerToken(req) ?? offered.find((p) => p.startsWith(BEARER_SUBPROTOCOL_PREFIX))?.slice(BEARER_SUBPROTOCOL_PREFIX.length);
  if (token) return admit(deps, verify(deps, token));
  if (ticket) {
    return deps.tickets.redeem(ticket, deps.clock.now()).then((t) =>
      admit(
        deps,
        t
          ? { user: t.user, device: t.device, expiresAt: t.expiresAt, admin: false }
          : { status: 401, code: "ticket-invalid", message: "the ticket is unknown, used or expired" },
      ),
    );
  }
  return { status: 401, code: "credentials-missing", message: "present an access token (Authorization header or bearer.<token> subprotocol) or a ticket" };
}

/** Authenticated claims pass when their user is not banned and their device may connect. */
function admit(deps: UpgradeDeps, claims: AccessClaims | Refusal): MaybeAsync<AccessClaims | Refusal> {
  if ("status" in claims) return claims;
  const { maxDevicesPerUser } = deps.config.limits;
  return then(deps.users.admitUser(claims.user, "login", Date.now()), ({ user }) => {
    if (user.bannedAt !== null) return BANNED;
    return then(deps.metadata.touchDevice(claims.user, claims.device, Date.now(), maxDevicesPerUser), (admission): AccessClaims | Refusal => {
      switch (admission) {
        case "revoked":
          return { status: 403, code: "device-revoked", message: "this device was revoked" };
        case "too-many":
          return { status: 403, code: "too-many-devices", message: `this user already has ${maxDevicesPerUser} devices; revoke one (DEVICE_REVOKE) to add another` };
      }
      return claims;
    });
  });
}
