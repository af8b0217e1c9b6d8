// socket.io through socket.io-client, WebSocket transport only. A message is an emit of
// ("m", room, body as base64): a JSON packet, the way socket.io apps usually carry chat text.
// Heartbeats are socket.io's own (the server pings at the bench's heartbeat period).

import { io, type Socket } from "socket.io-client";
import type { Adapter, Conn } from "./types.ts";

const CONNECT_TIMEOUT_MS = 30_000;

export function socketioAdapter(): Adapter {
  return {
    acks: false,
    connect(user, _device, endpoint) {
      const socket = io(endpoint, { transports: ["websocket"], auth: { user }, reconnection: false, timeout: CONNECT_TIMEOUT_MS });
      return new Promise<Conn>((resolve, reject) => {
        socket.once("connect", () => resolve(new SocketioConn(user, socket)));
        socket.once("connect_error", (e) => {
          socket.close();
          reject(new Error(`${user}: ${e.message}`));
        });
      });
    },
  };
}

class SocketioConn implements Conn {
  constructor(
    readonly user: string,
    private readonly socket: Socket,
  ) {}

  directRoute(peer: string): Promise<string> {
    return Promise.resolve(`u:${peer}`);
  }

  createGroup(name: string): Promise<string> {
    return Promise.resolve(`g:${name}`);
  }

  async joinGroup(route: string): Promise<void> {
    await this.socket.emitWithAck("join", route);
  }

  send(route: string, body: Uint8Array): undefined {
    this.socket.emit("m", route, Buffer.from(body.buffer, body.byteOffset, body.length).toString("base64"));
    return undefined;
  }

  onMessage(handler: (body: Uint8Array) => void): void {
    this.socket.on("m", (b64: string) => handler(Buffer.from(b64, "base64")));
  }

  close(): void {
    this.socket.close();
  }
}
