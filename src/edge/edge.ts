// The WebSocket edge: the only code that touches Bun's sockets. It authenticates upgrades,
// adapts each socket to a Transport, and hands frames to the node's actors. Every callback Bun
// makes into it is a boundary: a fault inside is contained there (logged, counted, answered
// where there is someone to answer) and never ends the process.

import type { Server, ServerWebSocket } from "bun";
import { decodeLimits, handleFrame } from "../actors/commands/dispatch.ts";
import { DisconnectCode, ErrorCode, SUBPROTOCOL } from "../proto/codes.ts";
import { then, type MaybeAsync } from "../maybe-async.ts";
import { ThrottledLog } from "../throttled-log.ts";
import { EdgeBroadcaster } from "./broadcaster.ts";
import { Flusher } from "./flusher.ts";
import { routeHttp, type RouteDeps } from "./http-routes.ts";
import { serveEdge, type EdgeListener } from "./listener.ts";
import { SocketTransport, type SocketEdge } from "./socket-transport.ts";
import { authenticateUpgrade, offeredSubprotocols, refuse, type Refusal } from "./upgrade-auth.ts";

export const WS_PATH = "/v1/ws";

/** The answer to a client that offered subprotocols (browsers): the one it speaks. */
const SUBPROTOCOL_HEADERS = { "Sec-WebSocket-Protocol": SUBPROTOCOL };

/** Room above the slow-consumer limit for the close frame (at most 125 bytes) and its header. */
const CLOSE_FRAME_ROOM = 1024;

export function startEdge(deps: RouteDeps): EdgeListener<SocketTransport> {
  const { config, node } = deps;
  const { ctx } = node;
  const limits = decodeLimits(node);
  // Frames up to maxFrameBytes are decoded; larger ones up to this hard cap get a FrameTooLarge
  // error; beyond it Bun drops the connection on the frame header alone, without buffering the
  // payload (clients see 1006).
  const hardCap = Math.max(4 * config.limits.maxFrameBytes, 1 << 20);
  const fault = (where: string, err: unknown, fields: Record<string, unknown> = {}) => {
    ctx.metrics.internalErrors.inc({ where });
    node.faultLog.log({ err, ...fields }, `${where} handler failed`);
  };
  const flusher = new Flusher((err) => fault("socket-flush", err));
  const broadcaster = new EdgeBroadcaster(() => listener.servers() as Server<unknown>[], flusher);
  // One per listener (a TLS reload adds one; see listener.ts), made at its first upgrade.
  const socketEdges = new WeakMap<Server<SocketTransport>, SocketEdge>();
  const socketEdge = (server: Server<SocketTransport>): SocketEdge => {
    let e = socketEdges.get(server);
    if (!e) socketEdges.set(server, (e = { server, limit: config.limits.socketBufferBytes, flusher, broadcaster }));
    return e;
  };

  function serveRequest(req: Request, server: Server<SocketTransport>): MaybeAsync<Response | undefined> {
    const url = new URL(req.url);
    if (url.pathname !== WS_PATH) return routeHttp(deps, req, url);
    if (req.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return refuse({ status: 426, code: "upgrade-required", message: "connect with a WebSocket" });
    }
    if (!deps.ready()) return refuseUpgrade({ status: 503, code: "draining", message: "server is shutting down" }, req);
    const offered = offeredSubprotocols(req);
    return then(authenticateUpgrade(deps, req, url, offered), (claims) => {
      if ("status" in claims) return refuseUpgrade(claims, req);
      const headers = offered.length > 0 ? SUBPROTOCOL_HEADERS : undefined;
      // The socket's data is its transport, which keeps the listener it came in on.
      const transport = new SocketTransport(claims, socketEdge(server));
      if (server.upgrade(req, { data: transport, headers })) return undefined;
      return refuseUpgrade({ status: 400, code: "upgrade-failed", message: "WebSocket upgrade failed" }, req);
    });
  }
  // A fault in a route is that request's 500, never the process's end.
  const failed = (req: Request, err: unknown): Response => {
    fault("http", err, { method: req.method, path: new URL(req.url).pathname });
    return refuse({ status: 500, code: "internal", message: "internal error" });
  };
  // A client refused at the upgrade sees only a failed handshake (browsers and most WebSocket
  // libraries hide the HTTP answer), so the reason is logged and counted here for the operator.
  // Logged at a bounded rate: anyone can send refused upgrades.
  const refusalLog = new ThrottledLog(ctx.log, ctx.clock, "warn");
  const refuseUpgrade = (r: Refusal, req: Request): Response => {
    ctx.metrics.upgradesRefused.inc({ reason: r.code });
    refusalLog.log({ reason: r.code, status: r.status, origin: req.headers.get("origin") ?? undefined }, `websocket upgrade refused: ${r.message}`);
    return refuse(r);
  };

  // Bun.serve, plus TLS (server.tlsCertFile) reloaded on SIGHUP or when the files change.
  const listener = serveEdge<SocketTransport>(config.server, node.ctx.log, {
    hostname: config.server.host,
    port: config.server.port,
    reusePort: config.server.reusePort,
    // Not async: an upgrade that needs nothing asynchronous happens in this turn (maybe-async.ts).
    fetch(req, server) {
      try {
        const answer = serveRequest(req, server);
        return answer instanceof Promise ? answer.catch((err: unknown) => failed(req, err)) : answer;
      } catch (err) {
        return failed(req, err);
      }
    },
    websocket: {
      maxPayloadLength: hardCap,
      // The transport enforces socketBufferBytes itself; uWebSockets' own limit sits above it so
      // the 4002 close frame is never dropped (socket-transport.ts). Only the native fan-out
      // (broadcaster.ts) writes past ours, and past this one uWebSockets cuts the connection:
      // it would otherwise drop the frame and write the next, and the device would never see
      // the gap end.
      backpressureLimit: config.limits.socketBufferBytes + CLOSE_FRAME_ROOM,
      closeOnBackpressureLimit: true,
      idleTimeout: Math.min(960, Math.ceil(config.heartbeat.timeoutMs / 1000) + 10),
      perMessageDeflate: false,
      open(ws: ServerWebSocket<SocketTransport>) {
        try {
          const t = ws.data;
          t.opened(ws);
          const claims = t.claims!;
          t.claims = null;
          t.session = node.openSession(t, claims);
        } catch (err) {
          fault("socket-open", err);
          ws.close(DisconnectCode.ServerError, "server error; reconnect");
        }
      },
      message(ws: ServerWebSocket<SocketTransport>, msg) {
        const s = ws.data.session;
        if (!s) return;
        if (typeof msg === "string") {
          s.error(0, ErrorCode.BadFrame, "text frames are not part of the protocol; send binary MessagePack");
          s.protocolError(ctx.clock.now(), config.limits.maxProtocolErrors);
          return;
        }
        handleFrame(node, s, msg, limits);
        flusher.arm();
      },
      drain(ws: ServerWebSocket<SocketTransport>) {
        try {
          ws.data.onDrain();
        } catch (err) {
          fault("socket-drain", err);
        }
      },
      close(ws: ServerWebSocket<SocketTransport>) {
        try {
          ws.data.markClosed();
          if (ws.data.session) node.closeSession(ws.data.session);
        } catch (err) {
          fault("socket-close", err);
        }
      },
    },
  });
  node.useBroadcaster(broadcaster);
  return listener;
}
