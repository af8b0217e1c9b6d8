// The browser app (src/web) as the edge serves it at web.path (default /app): the page, its
// script (bundled from TypeScript by Bun.build on first request and kept in memory), its style,
// its settings, and the development sign-in that mints a token for a user name (when
// web.devSignIn allows it; real deployments get tokens from the operator's auth service).

import { join } from "node:path";
import { loadSigningKey, type SigningKey } from "../auth/keyring.ts";
import { mintAccessToken } from "../auth/tokens.ts";
import { devSignInEnabled, webAppEnabled, type Config } from "../config/config.ts";
import { ID_PATTERN } from "../proto/schema.ts";
import { refuse } from "./upgrade-auth.ts";

const WEB_DIR = new URL("../web/", import.meta.url).pathname;
/** Lifetime of a development sign-in token; the app asks for a new one on every reconnect. */
const DEV_TOKEN_TTL_SEC = 3600;

const SECURITY_HEADERS = {
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  // Media may come from the object store's own origin (MinIO/S3), so images allow http(s).
  "content-security-policy": "default-src 'self'; img-src 'self' blob: data: http: https:; connect-src 'self' ws: wss: http: https:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
};

export interface WebAppDeps {
  config: Config;
}

/** Answers requests under web.path; null for every other path (or when the app is off). */
export function webAppRoute(deps: WebAppDeps, req: Request, url: URL): Promise<Response> | Response | null {
  const { config } = deps;
  const base = config.web.path;
  if (!webAppEnabled(config) || (url.pathname !== base && !url.pathname.startsWith(`${base}/`))) return null;
  const sub = url.pathname.slice(base.length);
  if (req.method === "POST" && sub === "/dev-sign-in") return devSignIn(config, req);
  if (req.method !== "GET" && req.method !== "HEAD") return refuse({ status: 405, code: "method-not-allowed", message: "GET only" });
  switch (sub) {
    case "":
      return new Response(null, { status: 308, headers: { location: `${base}/` } });
    case "/":
    case "/index.html":
      return file("index.html", "text/html; charset=utf-8");
    case "/app.css":
      return file("app.css", "text/css; charset=utf-8");
    case "/app.js":
      return script();
    case "/config.json":
      return Response.json({ devSignIn: devSignInEnabled(config), wsPath: "/v1/ws", base }, { headers: { ...SECURITY_HEADERS, "cache-control": "no-store" } });
    default:
      return refuse({ status: 404, code: "not-found", message: "no such file in the web app" });
  }
}

function file(name: string, type: string): Response {
  return new Response(Bun.file(join(WEB_DIR, name)), { headers: { ...SECURITY_HEADERS, "content-type": type, "cache-control": "no-cache" } });
}

let bundle: Promise<string> | undefined;

/** The app's script, bundled once per process (a few hundred ms) and served from memory. */
async function script(): Promise<Response> {
  bundle ??= Bun.build({ entrypoints: [join(WEB_DIR, "app.ts")], target: "browser", format: "esm", minify: true, sourcemap: "none" }).then(async (out) => {
    if (!out.success || !out.outputs[0]) throw new Error(`web app build failed: ${out.logs.join("\n")}`);
    return out.outputs[0].text();
  });
  try {
    return new Response(await bundle, { headers: { ...SECURITY_HEADERS, "content-type": "text/javascript; charset=utf-8", "cache-control": "no-cache" } });
  } catch (e) {
    bundle = undefined;
    return refuse({ status: 500, code: "web-app-build-failed", message: (e as Error).message });
  }
}

const signingKeys = new Map<string, Promise<SigningKey>>();

async function devSignIn(config: Config, req: Request): Promise<Response> {
  if (!devSignInEnabled(config)) {
    return refuse({ status: 403, code: "dev-sign-in-off", message: "development sign-in is off (web.devSignIn); sign in with a token from your auth service" });
  }
  let body: { user?: unknown; device?: unknown };
  try {
    body = (await req.json()) as typeof body;
  } catch {
    return refuse({ status: 400, code: "bad-json", message: "expected JSON {user, device}" });
  }
  const { user, device } = body ?? {};
  if (typeof user !== "string" || typeof device !== "string" || !ID_PATTERN.test(user) || !ID_PATTERN.test(device)) {
    return refuse({ status: 400, code: "bad-params", message: "user and device must be ids: up to 128 letters, digits or _.@+=:-" });
  }
  const keyFile = config.auth.keysFile || join(config.server.dataDir, "jwks.json");
  let key = signingKeys.get(keyFile);
  if (!key) signingKeys.set(keyFile, (key = loadSigningKey(keyFile)));
  try {
    const token = await mintAccessToken(await key, { user, device, ttlSec: DEV_TOKEN_TTL_SEC, admin: false, audience: config.auth.audience, issuer: config.auth.issuer || undefined });
    return Response.json({ token, expiresInSec: DEV_TOKEN_TTL_SEC }, { headers: { "cache-control": "no-store" } });
  } catch (e) {
    signingKeys.delete(keyFile);
    return refuse({ status: 503, code: "no-signing-key", message: `development sign-in needs a private key: ${(e as Error).message}` });
  }
}
