// The plain HTTP side of the edge: health, readiness, metrics, browser tickets, admin revocation.

import { ID_PATTERN } from "../proto/schema.ts";
import type { Node } from "../actors/node.ts";
import type { Readiness } from "../health/readiness.ts";
import type { LocalDiskObjectStore } from "../media/local-disk-store.ts";
import { localMediaRoute } from "../media/local-media-routes.ts";
import { serveMetrics } from "../metrics/metrics-endpoint.ts";
import { BANNED, bearerToken, originAllowed, refuse, verify, type UpgradeDeps } from "./upgrade-auth.ts";

export interface RouteDeps extends UpgradeDeps {
  node: Node;
  /** Whether WebSocket upgrades are accepted (false once the drain has begun). */
  ready: () => boolean;
  /** /readyz: draining, and the health of the stores and the bus. */
  readiness: Pick<Readiness, "respond">;
  /** The embedded media store, whose signed upload and download URLs this edge serves. */
  localMedia: LocalDiskObjectStore | null;
}

function corsHeaders(deps: RouteDeps, req: Request): Record<string, string> {
  const origin = req.headers.get("origin");
  if (!origin || !originAllowed(deps.config, origin)) return {};
  return {
    "access-control-allow-origin": origin,
    "access-control-allow-headers": "authorization, content-type",
    "access-control-allow-methods": "POST, OPTIONS",
    vary: "origin",
  };
}

export async function routeHttp(deps: RouteDeps, req: Request, url: URL): Promise<Response> {
  const media = deps.localMedia && localMediaRoute(deps.localMedia, req, url);
  if (media) return media;
  const { pathname } = url;
  if (req.method === "GET" && pathname === "/healthz") return new Response("ok\n");
  if (req.method === "GET" && pathname === "/readyz") return deps.readiness.respond();
  // With a listener of its own (metrics.listen), /metrics is not served to clients here.
  if (req.method === "GET" && pathname === "/metrics" && !deps.config.metrics.listen) {
    return serveMetrics(deps.node.ctx.metrics.registry, deps.config.metrics.token, req);
  }
  if (req.method === "OPTIONS" && pathname === "/v1/tickets") return new Response(null, { status: 204, headers: corsHeaders(deps, req) });
  if (req.method === "POST" && pathname === "/v1/tickets") return issueTicket(deps, req);
  if (req.method === "POST" && pathname === "/v1/admin/revoke") return adminRevoke(deps, req);
  return refuse({ status: 404, code: "not-found", message: "no such route" });
}

async function issueTicket(deps: RouteDeps, req: Request): Promise<Response> {
  const cors = corsHeaders(deps, req);
  if (!originAllowed(deps.config, req.headers.get("origin"))) return refuse({ status: 403, code: "origin-not-allowed", message: "origin not allowed" }, cors);
  const token = bearerToken(req);
  if (!token) return refuse({ status: 401, code: "credentials-missing", message: "Authorization: Bearer <token> required" }, cors);
  const claims = await verify(deps, token);
  if ("status" in claims) return refuse(claims, cors);
  if (await deps.metadata.isDeviceRevoked(claims.user, claims.device)) {
    return refuse({ status: 403, code: "device-revoked", message: "this device was revoked" }, cors);
  }
  if ((await deps.users.getUser(claims.user))?.bannedAt) return refuse(BANNED, cors);
  const ttl = deps.config.auth.ticketTtlMs;
  const ticket = await deps.tickets.issue({ user: claims.user, device: claims.device, expiresAt: claims.expiresAt }, ttl, deps.clock.now());
  return Response.json({ ticket, expiresInMs: ttl }, { headers: cors });
}

async function adminRevoke(deps: RouteDeps, req: Request): Promise<Response> {
  const token = bearerToken(req);
  if (!token) return refuse({ status: 401, code: "credentials-missing", message: "admin token required" });
  const claims = await verify(deps, token);
  if ("status" in claims) return refuse(claims);
  if (!claims.admin) return refuse({ status: 403, code: "not-admin", message: "the token lacks scope=admin" });
  if (await deps.metadata.isDeviceRevoked(claims.user, claims.device)) {
    return refuse({ status: 403, code: "device-revoked", message: "the admin token's device was revoked" });
  }
  let body: unknown;
  try {
    body = await req.json();
  } catch {
    return refuse({ status: 400, code: "bad-json", message: "expected JSON {user, device}" });
  }
  const { user, device } = (body ?? {}) as Record<string, unknown>;
  if (typeof user !== "string" || typeof device !== "string" || !ID_PATTERN.test(user) || !ID_PATTERN.test(device)) {
    return refuse({ status: 400, code: "bad-params", message: "expected JSON {user, device} with valid ids" });
  }
  return Response.json({ revoked: await deps.node.revokeDevice(user, device) });
}
