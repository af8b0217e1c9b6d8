// The plain HTTP side of the edge: health, readiness, metrics, browser tickets, and the admin API (src/admin).

import { ADMIN_PREFIX, routeAdmin } from "../admin/router.ts";
import type { Node } from "../actors/node.ts";
import type { Readiness } from "../health/readiness.ts";
import type { LocalDiskObjectStore } from "../media/local-disk-store.ts";
import { localMediaRoute } from "../media/local-media-routes.ts";
import { serveMetrics } from "../metrics/metrics-endpoint.ts";
import { BANNED, bearerToken, originAllowed, refuse, verify, type UpgradeDeps } from "./upgrade-auth.ts";
import { webAppRoute } from "./web-app.ts";

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
  const app = webAppRoute(deps, req, url);
  if (app) return app;
  const { pathname } = url;
  if (req.method === "GET" && pathname === "/healthz") return new Response("ok\n");
  if (req.method === "GET" && pathname === "/readyz") return deps.readiness.respond();
  // With a listener of its own (metrics.listen), /metrics is not served to clients here.
  if (req.method === "GET" && pathname === "/metrics" && !deps.config.metrics.listen) {
    return serveMetrics(deps.node.ctx.metrics.registry, deps.config.metrics.token, req);
  }
  if (req.method === "OPTIONS" && pathname === "/v1/tickets") return new Response(null, { status: 204, headers: corsHeaders(deps, req) });
  if (req.method === "POST" && pathname === "/v1/tickets") return issueTicket(deps, req);
  if (pathname.startsWith(ADMIN_PREFIX)) return routeAdmin(deps, req, url);
  return refuse({ status: 404, code: "not-found", message: "no such route" });
}

async function issueTicket(deps: RouteDeps, req: Request): Promise<Response> {
  const cors = corsHeaders(deps, req);
  // A draining server is closing its stores: a ticket could not be redeemed anyway.
  if (!deps.ready()) return refuse({ status: 503, code: "draining", message: "server is shutting down" }, cors);
  if (!originAllowed(deps.config, req.headers.get("origin"))) return refuse({ status: 403, code: "origin-not-allowed", message: "origin not allowed" }, cors);
  const token = bearerToken(req);
  if (!token) return refuse({ status: 401, code: "credentials-missing", message: "Authorization: Bearer <token> required" }, cors);
  const claims = verify(deps, token);
  if ("status" in claims) return refuse(claims, cors);
  if (await deps.metadata.isDeviceRevoked(claims.user, claims.device)) {
    return refuse({ status: 403, code: "device-revoked", message: "this device was revoked" }, cors);
  }
  if ((await deps.users.getUser(claims.user))?.bannedAt) return refuse(BANNED, cors);
  const ttl = deps.config.auth.ticketTtlMs;
  const ticket = await deps.tickets.issue({ user: claims.user, device: claims.device, expiresAt: claims.expiresAt }, ttl, deps.clock.now());
  return Response.json({ ticket, expiresInMs: ttl }, { headers: cors });
}
