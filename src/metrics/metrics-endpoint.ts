// Serving /metrics: on the main listener or on one of its own (metrics.listen), and behind a
// bearer token when metrics.token is set. Metrics name internal state (connections, error codes,
// backends' health) that the internet need not see; a loopback listener keeps them off the port
// that faces clients, and the token guards them where they must cross a network.

import { createHash, timingSafeEqual } from "node:crypto";
import type { Server } from "bun";
import type { Registry } from "prom-client";

/** The /metrics answer, or 401 when `token` is set and the request does not carry it. */
export async function serveMetrics(registry: Registry, token: string, req: Request): Promise<Response> {
  if (token && !bearerMatches(req.headers.get("authorization"), token)) {
    return Response.json(
      { error: "metrics-token-required", message: "send Authorization: Bearer <metrics.token>" },
      { status: 401, headers: { "www-authenticate": 'Bearer realm="metrics"' } },
    );
  }
  return new Response(await registry.metrics(), { headers: { "content-type": registry.contentType } });
}

function bearerMatches(header: string | null, token: string): boolean {
  const m = /^Bearer (.+)$/i.exec(header ?? "");
  if (!m) return false;
  // Digests have equal lengths, so the comparison takes the same time whatever was sent.
  const digest = (s: string) => createHash("sha256").update(s).digest();
  return timingSafeEqual(digest(m[1]!), digest(token));
}

/** "host:port" or "[v6]:port". */
export function parseListen(listen: string): { hostname: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(listen);
  if (!m) throw new Error(`metrics.listen: expected host:port, got ${JSON.stringify(listen)}`);
  return { hostname: m[1] ?? m[2]!, port: Number(m[3]) };
}

/** A listener of its own serving only /metrics. */
export function startMetricsListener(listen: string, registry: Registry, token: string): Server<undefined> {
  return Bun.serve({
    ...parseListen(listen),
    fetch(req) {
      const { pathname } = new URL(req.url);
      if (req.method === "GET" && pathname === "/metrics") return serveMetrics(registry, token, req);
      return Response.json({ error: "not-found", message: "this listener serves GET /metrics only" }, { status: 404 });
    },
  });
}

/** http://host:port of a listener, with a wildcard address shown as loopback. */
export function listenerUrl(server: { hostname?: string; port?: number }): string {
  const host = !server.hostname || server.hostname === "0.0.0.0" ? "127.0.0.1" : server.hostname === "::" ? "[::1]" : server.hostname.includes(":") ? `[${server.hostname}]` : server.hostname;
  return `http://${host}:${server.port}`;
}
