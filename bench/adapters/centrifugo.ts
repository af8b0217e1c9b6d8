// Centrifugo's client protocol (JSON over WebSocket) spoken directly: CONNECT with an HS256
// connection JWT, SUBSCRIBE to the user's own channel, PUBLISH to the addressee's channel, and
// answer the server's pings. The body travels base64 in the publication's JSON data. Centrifugo
// may put several replies in one frame, one JSON object per line.

import { SignJWT } from "jose";
import type { TargetAccess } from "../targets/types.ts";
import type { Adapter, Conn } from "./types.ts";

const CONNECT_TIMEOUT_MS = 30_000;
const TOKEN_TTL_SEC = 6 * 3600;

interface Reply {
  id?: number;
  error?: { code: number; message: string };
  push?: { channel: string; pub?: { data: { b: string } } };
}

export function centrifugoAdapter(access: TargetAccess): Adapter {
  if (!access.hmacSecret) throw new Error("centrifugo adapter: the target gave no HMAC secret");
  const secret = new TextEncoder().encode(access.hmacSecret);
  return {
    acks: true,
    async connect(user, _device, endpoint) {
      const token = await new SignJWT({ sub: user })
        .setProtectedHeader({ alg: "HS256" })
        .setExpirationTime(Math.floor(Date.now() / 1000) + TOKEN_TTL_SEC)
        .sign(secret);
      const conn = await CentrifugoConn.open(user, endpoint);
      await conn.command({ connect: { token, name: "msgr-bench" } });
      await conn.joinGroup(userChannel(user));
      return conn;
    },
  };
}

const userChannel = (user: string) => `u-${user}`;

class CentrifugoConn implements Conn {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();
  private handler: (body: Uint8Array) => void = () => {};

  static open(user: string, endpoint: string): Promise<CentrifugoConn> {
    const ws = new WebSocket(endpoint);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        ws.close();
        reject(new Error(`${user}: connect timed out`));
      }, CONNECT_TIMEOUT_MS);
      ws.onopen = () => {
        clearTimeout(timer);
        resolve(new CentrifugoConn(user, ws));
      };
      ws.onerror = () => {
        clearTimeout(timer);
        reject(new Error(`${user}: connection failed`));
      };
    });
  }

  private constructor(
    readonly user: string,
    private readonly ws: WebSocket,
  ) {
    ws.onmessage = (ev) => {
      for (const line of String(ev.data).split("\n")) if (line) this.onReply(JSON.parse(line) as Reply);
    };
    ws.onclose = () => {
      for (const p of this.pending.values()) p.reject(new Error(`${user}: connection closed`));
      this.pending.clear();
    };
  }

  private onReply(r: Reply): void {
    if (r.id) {
      const p = this.pending.get(r.id);
      this.pending.delete(r.id);
      if (r.error) p?.reject(new Error(`centrifugo error ${r.error.code}: ${r.error.message}`));
      else p?.resolve(r);
    } else if (r.push?.pub) {
      this.handler(Buffer.from(r.push.pub.data.b, "base64"));
    } else if (!r.push) {
      // An empty object is the server's ping; the client answers with an empty command.
      this.ws.send("{}");
    }
  }

  command(body: object): Promise<Reply> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.ws.send(JSON.stringify({ id, ...body }));
    });
  }

  directRoute(peer: string): Promise<string> {
    return Promise.resolve(userChannel(peer));
  }

  createGroup(name: string): Promise<string> {
    return Promise.resolve(`g-${name}`);
  }

  async joinGroup(route: string): Promise<void> {
    await this.command({ subscribe: { channel: route } });
  }

  send(route: string, body: Uint8Array): Promise<Reply> {
    return this.command({ publish: { channel: route, data: { b: Buffer.from(body.buffer, body.byteOffset, body.length).toString("base64") } } });
  }

  onMessage(handler: (body: Uint8Array) => void): void {
    this.handler = handler;
  }

  close(): void {
    this.ws.close();
  }
}
