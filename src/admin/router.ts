// The admin and moderation API over HTTP (docs/admin-api.openapi.yaml): every request carries an
// access token with scope=admin, is routed by the table in actions.ts, and every action an admin
// takes (answered with any status once the token is accepted) is written to the audit log,
// which the API itself serves.

import type { AccessClaims } from "../auth/tokens.ts";
import type { RouteDeps } from "../edge/http-routes.ts";
import { bearerToken, refuse, verify } from "../edge/upgrade-auth.ts";
import { ADMIN_ROUTES, AdminError, type AdminRoute } from "./actions.ts";

export const ADMIN_PREFIX = "/v1/admin/";

interface Compiled {
  route: AdminRoute;
  pattern: RegExp;
  names: string[];
}

/** `/v1/admin/users/{user}` -> a pattern capturing one path segment per parameter. */
function compile(route: AdminRoute): Compiled {
  const names: string[] = [];
  const source = route.path.replace(/[.*+?^$()|[\]\\]/g, "\\$&").replace(/\{(\w+)\}/g, (_m, name: string) => {
    names.push(name);
    return "([^/]+)";
  });
  return { route, pattern: new RegExp(`^${source}$`), names };
}

const COMPILED = ADMIN_ROUTES.map(compile);

/** The token's claims when it is an admin's; otherwise the refusal to send. */
async function authenticate(deps: RouteDeps, req: Request): Promise<AccessClaims | Response> {
  const token = bearerToken(req);
  if (!token) return refuse({ status: 401, code: "credentials-missing", message: "admin token required" });
  const claims = await verify(deps, token);
  if ("status" in claims) return refuse(claims);
  if (!claims.admin) return refuse({ status: 403, code: "not-admin", message: "the token lacks scope=admin" });
  if (await deps.metadata.isDeviceRevoked(claims.user, claims.device)) {
    return refuse({ status: 403, code: "device-revoked", message: "the admin token's device was revoked" });
  }
  return claims;
}

async function readBody(req: Request): Promise<unknown> {
  if (req.method === "GET") return {};
  const text = await req.text();
  if (text.trim() === "") return {};
  try {
    return JSON.parse(text);
  } catch {
    throw new AdminError(400, "bad-json", "the body is not JSON");
  }
}

/** Answers a request under /v1/admin/. */
export async function routeAdmin(deps: RouteDeps, req: Request, url: URL): Promise<Response> {
  let match: { c: Compiled; values: string[] } | undefined;
  let otherMethod = false;
  for (const c of COMPILED) {
    const m = c.pattern.exec(url.pathname);
    if (!m) continue;
    if (c.route.method !== req.method) {
      otherMethod = true;
      continue;
    }
    match = { c, values: m.slice(1) };
    break;
  }
  if (!match) {
    return otherMethod
      ? refuse({ status: 405, code: "method-not-allowed", message: `${req.method} is not served here` })
      : refuse({ status: 404, code: "not-found", message: "no such route" });
  }
  const admin = await authenticate(deps, req);
  if (admin instanceof Response) return admin;

  const { route, names } = match.c;
  const params: Record<string, string> = {};
  let status: number;
  let body: object;
  let target = "";
  let details: Record<string, unknown> = {};
  try {
    names.forEach((n, i) => (params[n] = decodeURIComponent(match.values[i]!)));
    target = params[route.target ?? ""] ?? "";
    const result = await route.run({ deps, node: deps.node, admin, params, query: url.searchParams, body: await readBody(req) });
    status = result.status ?? 200;
    body = result.body;
    target = result.target ?? target;
    details = result.details ?? {};
  } catch (e) {
    if (!(e instanceof AdminError) && !(e instanceof URIError)) throw e;
    const err = e instanceof AdminError ? e : new AdminError(400, "bad-params", "malformed percent-encoding in the path");
    status = err.status;
    body = { code: err.code, message: err.message };
    details = { code: err.code };
  }
  await deps.node.ctx.safety.store.appendAudit({ at: Date.now(), admin: admin.user, device: admin.device, action: route.action, target, status, details });
  return Response.json(body, { status });
}
