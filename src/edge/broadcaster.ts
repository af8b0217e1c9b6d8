// The Broadcaster over Bun's pub/sub. A topic lives in one listener (Bun.serve instance), and for a
// moment after a TLS reload there are several (listener.ts), so a frame is published in each.

import type { Server } from "bun";
import type { Broadcaster, Transport } from "../actors/transport.ts";
import type { SocketTransport } from "./socket-transport.ts";

export class EdgeBroadcaster implements Broadcaster {
  constructor(private readonly listeners: () => Iterable<Server<unknown>>) {}

  publish(topic: string, frame: Uint8Array, except?: Transport): void {
    const ex = except as SocketTransport | undefined;
    for (const server of this.listeners()) {
      // Bun's ws.publish reaches every subscriber but the socket it is called on.
      if (ex && !ex.closed && ex.server === server) ex.publishToOthers(topic, frame);
      else server.publish(topic, frame);
    }
  }
}
