// Peer (a), the ceiling: a Bun.serve WebSocket router that forwards each frame to the
// addressee's socket by user id (groups through Bun's native pub/sub), and does nothing else:
// no authentication, no storage, no acks, no receipts, no ordering across reconnects, no resume.
// Whatever msgr costs above this is the price of its features.
// Run: bun bench/peers/bare-bun.ts --host 127.0.0.1 --port 9001

import type { ServerWebSocket } from "bun";
import { parseArgs } from "node:util";
import { frameName, Op, PONG } from "./bare-frame.mjs";

const { values } = parseArgs({ options: { host: { type: "string", default: "127.0.0.1" }, port: { type: "string" } } });
if (!values.port) throw new Error("bare-bun: --port is required");

type Socket = ServerWebSocket<{ user: string }>;
const sockets = new Map<string, Socket>();

Bun.serve<{ user: string }>({
  hostname: values.host,
  port: Number(values.port),
  fetch(req, server) {
    const user = new URL(req.url).searchParams.get("user");
    if (!user) return new Response("user required", { status: 400 });
    return server.upgrade(req, { data: { user } }) ? undefined : new Response("upgrade failed", { status: 400 });
  },
  websocket: {
    perMessageDeflate: false,
    open(ws: Socket) {
      sockets.set(ws.data.user, ws);
    },
    message(ws: Socket, msg) {
      if (typeof msg === "string") return;
      switch (msg[0]) {
        case Op.DeliverUser:
          sockets.get(frameName(msg))?.send(msg);
          return;
        case Op.DeliverGroup:
          ws.publish(frameName(msg), msg);
          return;
        case Op.Join:
          ws.subscribe(frameName(msg));
          ws.send(PONG);
          return;
        case Op.Ping:
          ws.send(PONG);
          return;
      }
    },
    close(ws: Socket) {
      if (sockets.get(ws.data.user) === ws) sockets.delete(ws.data.user);
    },
  },
});
