// The bare routers' protocol (peers/bare-frame.mjs) over Bun's WebSocket client. The user id
// travels in the URL because the routers authenticate nothing. Heartbeat: a PING frame every
// heartbeat period, answered by the router, like msgr's SDK does.

import { encodeHeader, Op, payloadOffset } from "../peers/bare-frame.mjs";
import type { TargetAccess } from "../targets/types.ts";
import type { Adapter, Conn } from "./types.ts";

const CONNECT_TIMEOUT_MS = 30_000;
const PING = encodeHeader(Op.Ping, "");

export function bareAdapter(access: TargetAccess): Adapter {
  return {
    acks: false,
    connect(user, _device, endpoint) {
      const ws = new WebSocket(`${endpoint}?user=${encodeURIComponent(user)}`);
      ws.binaryType = "arraybuffer";
      return new Promise<Conn>((resolve, reject) => {
        const timer = setTimeout(() => {
          ws.close();
          reject(new Error(`${user}: connect timed out`));
        }, CONNECT_TIMEOUT_MS);
        ws.onopen = () => {
          clearTimeout(timer);
          resolve(new BareConn(user, ws, access.heartbeatMs));
        };
        ws.onerror = () => {
          clearTimeout(timer);
          reject(new Error(`${user}: connection failed`));
        };
      });
    },
  };
}

class BareConn implements Conn {
  /** Frame headers by route, built once: routing a message is then one copy of the body. */
  private readonly headers = new Map<string, Uint8Array>();
  private handler: (body: Uint8Array) => void = () => {};
  private readonly pongWaiters: (() => void)[] = [];
  private readonly heartbeat: ReturnType<typeof setInterval>;

  constructor(
    readonly user: string,
    private readonly ws: WebSocket,
    heartbeatMs: number,
  ) {
    ws.onmessage = (ev) => {
      const frame = new Uint8Array(ev.data as ArrayBuffer);
      if (frame[0] === Op.Pong) this.pongWaiters.shift()?.();
      else this.handler(frame.subarray(payloadOffset(frame)));
    };
    this.heartbeat = setInterval(() => this.ws.readyState === WebSocket.OPEN && this.ws.send(PING), heartbeatMs);
  }

  /** Routes are "u:<user>" or "g:<group>"; send builds each one's frame header once. */
  directRoute(peer: string): Promise<string> {
    return Promise.resolve(`u:${peer}`);
  }

  createGroup(name: string): Promise<string> {
    return Promise.resolve(`g:${name}`);
  }

  joinGroup(route: string): Promise<void> {
    const name = route.slice(2);
    return new Promise((resolve) => {
      this.pongWaiters.push(resolve);
      this.ws.send(encodeHeader(Op.Join, name));
    });
  }

  send(route: string, body: Uint8Array): undefined {
    let header = this.headers.get(route);
    if (!header) this.headers.set(route, (header = encodeHeader(route.startsWith("u:") ? Op.DeliverUser : Op.DeliverGroup, route.slice(2))));
    const frame = new Uint8Array(header.length + body.length);
    frame.set(header);
    frame.set(body, header.length);
    this.ws.send(frame);
    return undefined;
  }

  onMessage(handler: (body: Uint8Array) => void): void {
    this.handler = handler;
  }

  close(): void {
    clearInterval(this.heartbeat);
    this.ws.close();
  }
}
