// Peer (b): the same router as bare-bun.ts on Node with the `ws` package, the most common way
// to run WebSockets on Node. Same wire format (bare-frame.mjs), same lack of features.
// Run: node bench/peers/node-ws.mjs --host 127.0.0.1 --port 9002

import { parseArgs } from "node:util";
import { WebSocketServer } from "ws";
import { frameName, Op, PONG } from "./bare-frame.mjs";

const { values } = parseArgs({ options: { host: { type: "string", default: "127.0.0.1" }, port: { type: "string" } } });
if (!values.port) throw new Error("node-ws: --port is required");

const sockets = new Map();
const groups = new Map();

const wss = new WebSocketServer({ host: values.host, port: Number(values.port), perMessageDeflate: false, clientTracking: false });
wss.on("connection", (ws, req) => {
  const user = new URL(req.url, "http://peer").searchParams.get("user");
  if (!user) return ws.close(1008, "user required");
  sockets.set(user, ws);
  const joined = [];
  ws.on("message", (data, isBinary) => {
    if (!isBinary) return;
    switch (data[0]) {
      case Op.DeliverUser:
        sockets.get(frameName(data))?.send(data);
        return;
      case Op.DeliverGroup:
        for (const member of groups.get(frameName(data)) ?? []) if (member !== ws) member.send(data);
        return;
      case Op.Join: {
        const name = frameName(data);
        let members = groups.get(name);
        if (!members) groups.set(name, (members = new Set()));
        members.add(ws);
        joined.push(name);
        ws.send(PONG);
        return;
      }
      case Op.Ping:
        ws.send(PONG);
        return;
    }
  });
  ws.on("close", () => {
    if (sockets.get(user) === ws) sockets.delete(user);
    for (const name of joined) groups.get(name)?.delete(ws);
  });
});
