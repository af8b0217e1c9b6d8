// The two bare routers: the same minimal protocol (peers/bare-frame.mjs) on Bun.serve and on
// Node's `ws`. They show what routing alone costs on each runtime.

import { startInstances } from "./instances.ts";
import type { Target } from "./types.ts";

const PEERS = new URL("../peers/", import.meta.url).pathname;
const ROUTING_ONLY =
  "forwards the frame to the addressee's socket and nothing else: no authentication, storage, ack, delivered receipt, sequence numbers or resume";

export const bareBun: Target = {
  name: "bare-bun",
  perMessage: `Bun.serve router; ${ROUTING_ONLY}`,
  unavailable: () => null,
  start: (opts) =>
    startInstances(
      opts,
      (host, port) => ({ cmd: [process.execPath, `${PEERS}bare-bun.ts`, "--host", host, "--port", String(port)], url: `ws://${host}:${port}/` }),
      (endpoints) => ({ name: "bare-bun", protocol: "bare", endpoints, heartbeatMs: opts.heartbeatMs }),
    ),
};

export const nodeWs: Target = {
  name: "node-ws",
  perMessage: `Node + ws router; ${ROUTING_ONLY}`,
  unavailable: () => (Bun.which("node") ? null : "node is not installed"),
  start: (opts) =>
    startInstances(
      opts,
      (host, port) => ({ cmd: [Bun.which("node")!, `${PEERS}node-ws.mjs`, "--host", host, "--port", String(port)], url: `ws://${host}:${port}/` }),
      (endpoints) => ({ name: "node-ws", protocol: "bare", endpoints, heartbeatMs: opts.heartbeatMs }),
    ),
};
