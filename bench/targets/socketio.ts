// socket.io on Node (peers/socketio.mjs), WebSocket transport only.

import { startInstances } from "./instances.ts";
import type { Target } from "./types.ts";

const SERVER = new URL("../peers/socketio.mjs", import.meta.url).pathname;

export const socketio: Target = {
  name: "socketio",
  perMessage:
    "socket.io packet parsing and encoding (JSON), room lookup, emit to the addressee's room; no authentication, storage, ack or delivered receipt",
  unavailable: () => (Bun.which("node") ? null : "node is not installed"),
  start: (opts) =>
    startInstances(
      opts,
      (host, port) => ({
        cmd: [Bun.which("node")!, SERVER, "--host", host, "--port", String(port), "--heartbeat-ms", String(opts.heartbeatMs)],
        url: `http://${host}:${port}`,
      }),
      (endpoints) => ({ name: "socketio", protocol: "socketio", endpoints, heartbeatMs: opts.heartbeatMs }),
    ),
};
