// Helpers for the security suites: raw upgrade requests (so a refusal's status and JSON body can
// be read), raw WebSockets that speak the frame codec directly, and hand-built tokens.

import { expect } from "bun:test";
import { join } from "node:path";
import { SignJWT } from "jose";
import { loadSigningKey, type SigningKey } from "../../src/auth/keyring.ts";
import { decodeServerFrame, encodeCommand, type ServerFrame } from "../../src/proto/codec.ts";
import { FrameType, Method, PROTOCOL_VERSION, SUBPROTOCOL, type MethodId } from "../../src/proto/codes.ts";
import type { Harness } from "../helpers/harness.ts";

/** What these helpers need of a deployment: where it listens, and its data directory. */
export type Target = Pick<Harness, "server" | "dataDir">;

// ---- credentials --------------------------------------------------------------------------

/** The server's embedded signing key (`<dataDir>/jwks.json`). */
export function embeddedKey(h: Target): Promise<SigningKey> {
  return loadSigningKey(join(h.dataDir, "jwks.json"));
}

/** The deployment's token signing key (its JWK Set, on either topology). */
export function signingKey(h: Pick<Harness, "keysFile">): Promise<SigningKey> {
  return loadSigningKey(h.keysFile);
}

const b64url = (s: string | Uint8Array) => Buffer.from(s).toString("base64url");

/** A token built by hand: any header, any claims, any HS256 secret (or none). */
export async function customToken(opts: {
  key: CryptoKey | Uint8Array;
  kid: string;
  alg?: string;
  sub?: string;
  dev?: string;
  aud?: string;
  iat?: number;
  /** null: no `exp` claim at all. */
  exp?: number | null;
  nbf?: number;
  scope?: string;
}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT({ dev: opts.dev ?? "d1", ...(opts.scope ? { scope: opts.scope } : {}) })
    .setProtectedHeader({ alg: opts.alg ?? "HS256", kid: opts.kid, typ: "JWT" })
    .setSubject(opts.sub ?? "u1")
    .setAudience(opts.aud ?? "msgr")
    .setIssuedAt(opts.iat ?? now);
  if (opts.exp !== null) jwt.setExpirationTime(opts.exp ?? now + 3600);
  if (opts.nbf !== undefined) jwt.setNotBefore(opts.nbf);
  return jwt.sign(opts.key);
}

/** An unsigned `alg: none` token (jose will not make one, so it is assembled by hand). */
export function algNoneToken(kid: string, claims: Record<string, unknown>): string {
  return `${b64url(JSON.stringify({ alg: "none", typ: "JWT", kid }))}.${b64url(JSON.stringify(claims))}.`;
}

// ---- upgrade requests ---------------------------------------------------------------------

export interface Creds {
  /** Sent as `Authorization: Bearer <token>`. */
  bearer?: string;
  /** Sent as Sec-WebSocket-Protocol. */
  protocols?: string[];
  /** Appended to the URL as the query string (without "?"). */
  query?: string;
  origin?: string;
}

function credHeaders(c: Creds): Record<string, string> {
  const headers: Record<string, string> = {};
  if (c.bearer !== undefined) headers.Authorization = `Bearer ${c.bearer}`;
  if (c.origin !== undefined) headers.Origin = c.origin;
  return headers;
}

/**
 * Sends a WebSocket upgrade request with fetch, so that a refusal can be read: status and JSON body.
 * Only for requests expected to be refused (a 101 would leave a half-open socket behind).
 */
export async function upgradeRequest(h: Target, c: Creds): Promise<{ status: number; code: string | undefined; text: string }> {
  const headers: Record<string, string> = {
    Connection: "Upgrade",
    Upgrade: "websocket",
    "Sec-WebSocket-Version": "13",
    "Sec-WebSocket-Key": Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString("base64"),
    ...credHeaders(c),
  };
  if (c.protocols) headers["Sec-WebSocket-Protocol"] = c.protocols.join(", ");
  const res = await fetch(`${h.server.httpUrl}/v1/ws${c.query ? `?${c.query}` : ""}`, { headers });
  const text = await res.text();
  let code: string | undefined;
  try {
    code = (JSON.parse(text) as { code?: string }).code;
  } catch {
    code = undefined;
  }
  return { status: res.status, code, text };
}

/** Asserts the upgrade is refused with `status` and JSON `code`. */
export async function expectRefused(h: Target, c: Creds, status: number, code: string): Promise<void> {
  const r = await upgradeRequest(h, c);
  expect({ status: r.status, code: r.code }).toEqual({ status, code });
}

/** Opens a real WebSocket with `c`; resolves with whether it opened (and closes it again). */
export function wsOutcome(h: Target, c: Creds, ms = 5000): Promise<{ opened: boolean; code?: number; protocol?: string }> {
  const url = `${h.server.wsUrl}${c.query ? `?${c.query}` : ""}`;
  // Bun's client: `new WebSocket(url, { headers, protocols })`. An empty protocols list is not the same as none.
  const init: { headers: Record<string, string>; protocols?: string[] } = { headers: credHeaders(c) };
  if (c.protocols) init.protocols = c.protocols;
  const ws = new WebSocket(url, init as unknown as string[]);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("websocket neither opened nor closed")), ms);
    ws.onopen = () => {
      clearTimeout(timer);
      // Resolve first: Bun may dispatch the close event synchronously inside close().
      resolve({ opened: true, protocol: ws.protocol });
      ws.close(1000);
    };
    ws.onerror = () => {};
    ws.onclose = (ev) => {
      clearTimeout(timer);
      resolve({ opened: false, code: ev.code });
    };
  });
}

// ---- raw protocol connections ---------------------------------------------------------------

/** A WebSocket that speaks frames directly: every server frame is decoded and queued. */
export class RawConn {
  readonly frames: ServerFrame[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  closeEvent: { code: number; reason: string } | null = null;
  private waiters: (() => void)[] = [];
  private nextId = 1;

  private constructor(readonly ws: WebSocket) {
    ws.binaryType = "arraybuffer";
    ws.onmessage = (ev) => {
      if (typeof ev.data === "string") throw new Error("server sent a text frame");
      this.frames.push(decodeServerFrame(new Uint8Array(ev.data as ArrayBuffer)));
      this.wake();
    };
    this.closed = new Promise((resolve) => {
      ws.onclose = (ev) => {
        this.closeEvent = { code: ev.code, reason: ev.reason };
        resolve(this.closeEvent);
        this.wake();
      };
    });
  }

  /** Opens an authenticated socket (subprotocol credentials by default); rejects if refused. */
  static open(url: string, token: string, how: "subprotocol" | "header" = "subprotocol"): Promise<RawConn> {
    return RawConn.wrap(
      how === "header"
        ? new WebSocket(url, { headers: { Authorization: `Bearer ${token}` } } as unknown as string[])
        : new WebSocket(url, [SUBPROTOCOL, `bearer.${token}`]),
    );
  }

  /** Opens a socket whose credentials are in the URL (a ticket); rejects if refused. */
  static openUrl(url: string): Promise<RawConn> {
    return RawConn.wrap(new WebSocket(url));
  }

  private static wrap(ws: WebSocket): Promise<RawConn> {
    const conn = new RawConn(ws);
    return new Promise((resolve, reject) => {
      ws.onopen = () => resolve(conn);
      ws.onerror = () => {};
      void conn.closed.then((e) => reject(new Error(`websocket closed before open (${e.code} ${e.reason})`)));
    });
  }

  /** Opens and performs CONNECT v1. */
  static async connected(url: string, token: string): Promise<RawConn> {
    const c = await RawConn.open(url, token);
    const r = await c.request(Method.Connect, { v: PROTOCOL_VERSION });
    expect(r.code).toBe(0);
    return c;
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  send(bytes: Uint8Array | string): void {
    this.ws.send(bytes);
  }

  /** A fresh command id (never 0). */
  id(): number {
    return this.nextId++;
  }

  /** Waits for (and removes) the first queued frame matching `pred`. */
  async next(pred: (f: ServerFrame) => boolean, ms = 5000, what = "frame"): Promise<ServerFrame> {
    const end = Date.now() + ms;
    for (;;) {
      const i = this.frames.findIndex(pred);
      if (i >= 0) return this.frames.splice(i, 1)[0]!;
      if (this.closeEvent) throw new Error(`connection closed (${this.closeEvent.code} ${this.closeEvent.reason}) while waiting for ${what}`);
      const left = end - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** The next reply with command id `id`. */
  async reply(id: number, ms = 5000): Promise<{ id: number; code: number; body: unknown }> {
    const f = await this.next((f) => f.type === FrameType.Reply && f.id === id, ms, `reply to id ${id}`);
    if (f.type !== FrameType.Reply) throw new Error("unreachable");
    return f;
  }

  /** Sends a command with a fresh id and waits for its reply. */
  async request(method: MethodId | number, params: unknown): Promise<{ id: number; code: number; body: unknown }> {
    const id = this.id();
    this.send(encodeCommand(id, method as MethodId, params as object));
    return this.reply(id);
  }

  /** Sends raw bytes and returns the next reply with id 0 (an error for an unreadable frame). */
  async hostile(bytes: Uint8Array | string): Promise<{ code: number; message: string }> {
    this.send(bytes);
    const r = await this.reply(0);
    return { code: r.code, message: (r.body as { message: string }).message };
  }

  /**
   * Asserts the connection still answers: a PING with an id gets an Ok reply. `id` for a
   * connection that also sends frames with ids of their own (a fuzzer's), which could collide
   * with the next fresh one.
   */
  async expectAlive(id = this.id(), ms = 5000): Promise<void> {
    this.send(encodeCommand(id, Method.Ping, {}));
    const r = await this.reply(id, ms);
    expect(r.code).toBe(0);
    expect(this.isOpen).toBe(true);
  }

  /** Waits for the server to close the connection; returns the close code. */
  async closedWithin(ms: number): Promise<number> {
    let t: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      t = setTimeout(() => reject(new Error(`connection not closed within ${ms} ms`)), ms);
    });
    try {
      return (await Promise.race([this.closed, timeout])).code;
    } finally {
      clearTimeout(t);
    }
  }

  close(): void {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close(1000);
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}

/** Resolves after `ms` or rejects if `p` does not settle first. */
export async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        t = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(t);
  }
}
