// Peer (c): a socket.io server routing chat messages the idiomatic socket.io way: every socket
// joins a room named after its user, a message is emitted to the addressee's room (or a group's
// room), excluding the sender. WebSocket transport only; socket.io's own heartbeat (engine.io
// PING/PONG) runs at the interval the bench gives. No auth, storage, acks or receipts.
// Run: node bench/peers/socketio.mjs --host 127.0.0.1 --port 9003 --heartbeat-ms 30000

import { createServer } from "node:http";
import { parseArgs } from "node:util";
import { Server } from "socket.io";

const { values } = parseArgs({
  options: { host: { type: "string", default: "127.0.0.1" }, port: { type: "string" }, "heartbeat-ms": { type: "string", default: "25000" } },
});
if (!values.port) throw new Error("socketio: --port is required");
const heartbeatMs = Number(values["heartbeat-ms"]);

const http = createServer();
const io = new Server(http, {
  transports: ["websocket"],
  serveClient: false,
  perMessageDeflate: false,
  pingInterval: heartbeatMs,
  pingTimeout: Math.max(1000, Math.round(heartbeatMs / 2)),
});

io.on("connection", (socket) => {
  const user = socket.handshake.auth?.user;
  if (typeof user !== "string" || user === "") return socket.disconnect(true);
  socket.join(`u:${user}`);
  socket.on("m", (room, body) => socket.to(room).emit("m", body));
  socket.on("join", (room, ack) => {
    socket.join(room);
    ack();
  });
});

http.listen(Number(values.port), values.host);
