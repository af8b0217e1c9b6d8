// The WebSocket edge: the only code that touches Bun's sockets. It authenticates upgrades,
// adapts each socket to a Transport, and hands frames to the node's actors.

import type { ServerWebSocket } from "bun";
import type { AccessClaims } from "../auth/tokens.ts";
import { decodeLimits, handleFrame } from "../actors/commands.ts";
import type { DeviceSession } from "../actors/device-session.ts";
import { DisconnectCode, ErrorCode, SUBPROTOCOL } from "../proto/codes.ts";
import { routeHttp, type RouteDeps } from "./http-routes.ts";
import { serveEdge, type EdgeListener } from "./listener.ts";
import { SocketTransport } from "./socket-transport.ts";
import { authenticateUpgrade, offeredSubprotocols, refuse } from "./upgrade-auth.ts";

export const WS_PATH = "/v1/ws";

interface SocketData {
  claims: AccessClaims;
  transport?: SocketTransport;
  session?: DeviceSession;
}

export function startEdge(deps: RouteDeps): EdgeListener {
  const { config } = deps;
  const { node } = deps;
  const limits = decodeLimits(node);
  // Frames up to maxFrameBytes are decoded; larger ones up to this hard cap get a FrameTooLarge
  // error; beyond it Bun drops the connection on the frame header alone, without buffering the
  // payload (clients see 1006).
  const hardCap = Math.max(4 * config.limits.maxFrameBytes, 1 << 20);

  // Bun.serve, plus TLS (server.tlsCertFile) reloaded on SIGHUP or when the files change.
  return serveEdge<SocketData>(config.server, node.ctx.log, {
    hostname: config.server.host,
    port: config.server.port,
    reusePort: config.server.reusePort,
    async fetch(req, server) {
      const url = new URL(req.url);
      if (url.pathname !== WS_PATH) return routeHttp(deps, req, url);
      if (req.headers.get("upgrade")?.toLowerCase() !== "websocket") {
        return refuse({ status: 426, code: "upgrade-required", message: "connect with a WebSocket" });
      }
      if (!deps.ready()) return refuse({ status: 503, code: "draining", message: "server is shutting down" });
      const claims = await authenticateUpgrade(deps, req, url);
      if ("status" in claims) return refuse(claims);
      const headers = offeredSubprotocols(req).length > 0 ? { "Sec-WebSocket-Protocol": SUBPROTOCOL } : undefined;
      if (server.upgrade(req, { data: { claims }, headers })) return undefined;
      return refuse({ status: 400, code: "upgrade-failed", message: "WebSocket upgrade failed" });
    },
    websocket: {
      maxPayloadLength: hardCap,
      backpressureLimit: config.limits.socketBufferBytes,
      closeOnBackpressureLimit: false,
      idleTimeout: Math.min(960, Math.ceil(config.heartbeat.timeoutMs / 1000) + 10),
      perMessageDeflate: false,
      open(ws: ServerWebSocket<SocketData>) {
        const transport = new SocketTransport(ws as ServerWebSocket<unknown>, config.limits.socketBufferBytes);
        ws.data.transport = transport;
        const session = node.openSession(transport, ws.data.claims);
        ws.data.session = session;
        // A revocation that landed between the upgrade's check and this registration was
        // published before the session could hear it; the store has it, so look again.
        deps.metadata.isDeviceRevoked(session.user, session.device).then(
          (revoked) => revoked && session.close(DisconnectCode.DeviceRevoked, "device revoked"),
          (err) => node.ctx.log.warn({ err }, "revocation re-check failed"),
        );
      },
      message(ws: ServerWebSocket<SocketData>, msg) {
        const s = ws.data.session;
        if (!s) return;
        if (typeof msg === "string") {
          s.error(0, ErrorCode.BadFrame, "text frames are not part of the protocol; send binary MessagePack");
          s.protocolError(Date.now(), config.limits.maxProtocolErrors);
          return;
        }
        handleFrame(node, s, msg, limits);
      },
      drain(ws: ServerWebSocket<SocketData>) {
        ws.data.transport?.onDrain();
      },
      close(ws: ServerWebSocket<SocketData>) {
        ws.data.transport?.markClosed();
        if (ws.data.session) node.closeSession(ws.data.session);
      },
    },
  });
}
