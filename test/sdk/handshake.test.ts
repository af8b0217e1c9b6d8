// The SDK's handshake is pipelined: CONNECT, SYNC and the presence watch leave together, so a
// (re)connection is ready after one round trip. A server here that answers nothing until all of
// them have arrived would leave a client that waits for CONNECT's reply waiting forever. And a
// handshake whose CONNECT is refused keeps the watch for the next connection, though the watch's
// own command was refused with it (NotConnected).

import type { ServerWebSocket } from "bun";
import { afterAll, expect, test } from "bun:test";
import { decodeCommand, encodeError, encodePush, encodeReply } from "../../src/proto/codec.ts";
import { DEFAULT_DECODE_LIMITS } from "../../src/proto/limits.ts";
import { SUBPROTOCOL } from "../../src/proto/codes.ts";
import type { PresenceInfo } from "../../src/proto/types.ts";
import { Client, ErrorCode, Method, PROTOCOL_VERSION, PushKind } from "../../src/sdk/index.ts";
import { until } from "../helpers/wait.ts";

interface Handshake {
  /** The methods received before the server answered anything. */
  methods: number[];
  /** The users the presence watch named, when it was sent. */
  watched?: string[];
}

interface Conn {
  held: { id: number; method: number; params: Record<string, unknown> }[];
  handshake: Handshake;
  answered: boolean;
}

/** The methods the next handshake must bring before the server answers, and whether it refuses CONNECT. */
let expected: number[] = [Method.Connect, Method.Sync];
let refuse = false;
const handshakes: Handshake[] = [];
let last: ServerWebSocket<Conn> | null = null;

function answer(ws: ServerWebSocket<Conn>, c: Conn["held"][number], refused: boolean): void {
  if (refused) {
    if (c.method === Method.Connect) ws.send(encodeError(c.id, ErrorCode.Unavailable, "try later", 10));
    else ws.send(encodeError(c.id, ErrorCode.NotConnected, "send CONNECT first"));
    return;
  }
  if (c.method === Method.Connect) {
    ws.send(encodeReply(c.id, { v: PROTOCOL_VERSION, user: "ann", device: "phone", node: 0, session: "s", heartbeatMs: 60_000, heartbeatTimeoutMs: 120_000, limits: DEFAULT_DECODE_LIMITS }));
  } else if (c.method === Method.Sync) {
    ws.send(encodeReply(c.id, { convs: [] }));
    ws.send(encodePush(PushKind.SyncDone, {}));
  } else if (c.method === Method.PresenceSubscribe) {
    const users = c.params.users as string[];
    ws.send(encodeReply(c.id, { presence: users.map((user) => ({ user, online: true, lastSeen: 0 })) }));
  } else {
    ws.send(encodeReply(c.id, {}));
  }
}

const server = Bun.serve<Conn>({
  hostname: "127.0.0.1",
  port: 0,
  fetch(req, srv) {
    const data: Conn = { held: [], handshake: { methods: [] }, answered: false };
    return srv.upgrade(req, { data, headers: { "sec-websocket-protocol": SUBPROTOCOL } }) ? undefined : new Response("upgrade failed", { status: 400 });
  },
  websocket: {
    open(ws) {
      last = ws;
    },
    message(ws, raw) {
      const cmd = decodeCommand(new Uint8Array(raw as Buffer));
      const c = { id: cmd.id, method: cmd.method as number, params: cmd.params as Record<string, unknown> };
      const conn = ws.data;
      if (conn.answered) return answer(ws, c, false);
      conn.held.push(c);
      conn.handshake.methods.push(c.method);
      if (c.method === Method.PresenceSubscribe) conn.handshake.watched = c.params.users as string[];
      if (!expected.every((m) => conn.handshake.methods.includes(m))) return;
      conn.answered = true;
      handshakes.push(conn.handshake);
      const refused = refuse;
      refuse = false;
      for (const held of conn.held) answer(ws, held, refused);
      if (refused) ws.close(4000, "refused");
    },
  },
});
afterAll(() => server.stop(true));

test("CONNECT, SYNC and the presence watch leave before any reply; a refused CONNECT keeps the watch for the next connection", async () => {
  const client = new Client({ url: `ws://127.0.0.1:${server.port}/v1/ws`, token: "t", minBackoffMs: 10, maxBackoffMs: 20, requestTimeoutMs: 3_000 });
  const events: string[] = [];
  client.on("connected", () => events.push("connected"));
  client.on("presence", (p: PresenceInfo) => events.push(`presence ${p.user}`));
  try {
    await client.connect();
    expect(handshakes).toEqual([{ methods: [Method.Connect, Method.Sync] }]);

    expect(await client.watchPresence(["bob"])).toEqual([{ user: "bob", online: true, lastSeen: 0 }]);
    // The next handshake brings the watch too; the first of them is refused at CONNECT.
    expected = [Method.Connect, Method.Sync, Method.PresenceSubscribe];
    refuse = true;
    events.length = 0;
    last!.close(4000, "go away");
    await until(() => events.includes("connected"));
    expect(handshakes.slice(1)).toEqual([
      { methods: [Method.Connect, Method.Sync, Method.PresenceSubscribe], watched: ["bob"] },
      { methods: [Method.Connect, Method.Sync, Method.PresenceSubscribe], watched: ["bob"] },
    ]);
    // The watched user's state as the new connection found it, before the connection is reported.
    expect(events).toEqual(["presence bob", "connected"]);
  } finally {
    client.close();
  }
});
