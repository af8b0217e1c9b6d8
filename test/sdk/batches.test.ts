// The SDK reads Batch envelopes as if each frame had come alone, against a scripted server that
// puts SYNC's reply, the backlog it plans and SYNC_DONE into one WebSocket message: the backlog
// is read against the plan (not against cursors the plan replaces), and "connected" still comes
// before "synced". An application handler that throws loses no other frame of the batch.

import { afterAll, beforeAll, expect, test } from "bun:test";
import type { Server } from "bun";
import { decodeCommand, encodePush, encodeReply } from "../../src/proto/codec.ts";
import { Method, PushKind } from "../../src/proto/codes.ts";
import { encodeBatch } from "../../src/proto/frame-batch.ts";
import { messageFrame } from "../../src/proto/message-frame.ts";
import type { ConnectResult, SyncResult, WireMessage } from "../../src/proto/types.ts";
import { Client, type WebSocketLike } from "../../src/sdk/index.ts";
import { until } from "../helpers/wait.ts";

const CONV = "c1";
const message = (seq: number): WireMessage => ({ conv: CONV, seq, id: BigInt(seq), from: "ben", dev: "b1", cid: `m${seq}`, kind: 1, body: new Uint8Array([seq]), ts: 1 });

let server: Server<unknown>;
/** What the server saw in each CONNECT's params. */
const connects: Record<string, unknown>[] = [];

beforeAll(() => {
  server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: (req, srv) => (srv.upgrade(req, { data: undefined }) ? undefined : new Response("no", { status: 400 })),
    websocket: {
      message(ws, raw) {
        const cmd = decodeCommand(raw as Uint8Array);
        if (cmd.method === Method.Connect) {
          connects.push(cmd.params as Record<string, unknown>);
          const session: ConnectResult = { v: 1, user: "ann", device: "a1", node: 0, session: "s", heartbeatMs: 60_000, heartbeatTimeoutMs: 120_000, limits: {} as ConnectResult["limits"] };
          ws.send(encodeReply(cmd.id, session));
        } else if (cmd.method === Method.Sync) {
          // The plan resumes the conversation at 5 (the client's cursor said 1), and its backlog
          // follows in the same message.
          const plan: SyncResult = { convs: [{ conv: CONV, from: 5, to: 6 }] };
          ws.send(encodeBatch([encodeReply(cmd.id, plan), messageFrame(message(5)), messageFrame(message(6)), encodePush(PushKind.SyncDone, {})]));
        }
      },
    },
  });
});

afterAll(() => server.stop(true));

/** What a WebSocket's onmessage threw: the runtime would report it; here it is kept. */
const thrownOut: unknown[] = [];

/** The runtime's WebSocket, with what its message handler throws caught and kept. */
class CatchingWebSocket implements WebSocketLike {
  private readonly ws: WebSocket;
  onopen: ((ev: any) => void) | null = null;
  onmessage: ((ev: any) => void) | null = null;
  onclose: ((ev: any) => void) | null = null;
  onerror: ((ev: any) => void) | null = null;

  constructor(url: string, protocols: string[]) {
    this.ws = new WebSocket(url, protocols);
    this.ws.onopen = (ev) => this.onopen?.(ev);
    this.ws.onclose = (ev) => this.onclose?.(ev);
    this.ws.onerror = (ev) => this.onerror?.(ev);
    this.ws.onmessage = (ev) => {
      try {
        this.onmessage?.(ev);
      } catch (e) {
        thrownOut.push(e);
      }
    };
  }
  get binaryType(): string {
    return this.ws.binaryType;
  }
  set binaryType(t: string) {
    this.ws.binaryType = t as typeof this.ws.binaryType;
  }
  get readyState(): number {
    return this.ws.readyState;
  }
  send(data: Uint8Array): void {
    this.ws.send(data);
  }
  close(code?: number, reason?: string): void {
    this.ws.close(code, reason);
  }
}

test("SYNC's reply, its backlog and SYNC_DONE in one batch: the backlog is released, and connected comes before synced", async () => {
  const client = new Client({ url: `ws://127.0.0.1:${server.port}/`, token: "t", cursors: { [CONV]: 1 }, reconnect: false, autoAck: false, WebSocket: CatchingWebSocket });
  const events: string[] = [];
  client.on("connected", () => events.push("connected"));
  client.on("synced", () => events.push("synced"));
  client.on("message", (m) => events.push(`message ${m.seq}`));
  // A handler that throws on the first message: the rest of the batch is still read, and the
  // error comes out of the socket's handler once, as it would have for a frame of its own.
  client.on("message", (m) => {
    if (m.seq === 5) throw new Error("an application's bug");
  });
  await client.connect();
  await until(() => events.includes("synced"), 5_000, "synced");
  expect(connects[0]).toMatchObject({ v: 1, batch: true });
  expect(events).toEqual(["message 5", "message 6", "connected", "synced"]);
  expect(thrownOut).toEqual([new Error("an application's bug")]);
  expect(client.cursors()).toEqual({ [CONV]: 6 });
  client.close();
});
