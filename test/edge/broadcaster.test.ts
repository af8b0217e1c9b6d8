// The edge's fan-out over real Bun sockets: a connection that reads batches gets a topic's frames
// of one turn as one Batch envelope (its own among them when the turn's frames came from several
// senders), a connection that does not gets them one by one and never its own, and a connection
// that joins or leaves a topic mid-turn gets exactly the frames published while it was on it.
// A socket's own queued frames leave as one Batch when it reads them, one by one otherwise.

import { afterAll, afterEach, beforeAll, expect, test } from "bun:test";
import type { Server, ServerWebSocket } from "bun";
import { EdgeBroadcaster } from "../../src/edge/broadcaster.ts";
import { Flusher } from "../../src/edge/flusher.ts";
import { SocketTransport } from "../../src/edge/socket-transport.ts";
import { frameBoundsOfBatch, isBatch } from "../../src/proto/frame-batch.ts";
import { until } from "../helpers/wait.ts";

const faults: unknown[] = [];
const flusher = new Flusher((err) => faults.push(err));
let server: Server<SocketTransport>;
let broadcaster: EdgeBroadcaster;
const opened = new Map<string, SocketTransport>();
const clients: WebSocket[] = [];

beforeAll(() => {
  broadcaster = new EdgeBroadcaster(() => [server as Server<unknown>], flusher);
  server = Bun.serve<SocketTransport>({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req, srv) {
      const name = new URL(req.url).searchParams.get("name")!;
      const t = new SocketTransport({ user: name, device: name, expiresAt: Infinity, admin: false }, { server: srv, limit: 1 << 20, flusher, broadcaster });
      return srv.upgrade(req, { data: t }) ? undefined : new Response("no", { status: 400 });
    },
    websocket: {
      open(ws: ServerWebSocket<SocketTransport>) {
        ws.data.opened(ws);
        opened.set(ws.data.claims!.user, ws.data);
      },
      message() {},
      close(ws: ServerWebSocket<SocketTransport>) {
        ws.data.markClosed();
      },
    },
  });
});

afterEach(() => {
  for (const c of clients.splice(0)) c.close();
  opened.clear();
  expect(faults).toEqual([]);
});

afterAll(() => server.stop(true));

/** A connected socket: its server side, and each WebSocket message it got, split into frames (a Batch's as one entry of several). */
async function connect(name: string, batches: boolean) {
  const got: string[][] = [];
  const ws = new WebSocket(`ws://127.0.0.1:${server.port}/?name=${name}`);
  ws.binaryType = "arraybuffer";
  ws.onmessage = (ev) => {
    const buf = new Uint8Array(ev.data as ArrayBuffer);
    const bounds = isBatch(buf) ? frameBoundsOfBatch(buf) : [0, buf.length];
    got.push(Array.from({ length: bounds.length / 2 }, (_, i) => new TextDecoder().decode(buf.subarray(bounds[2 * i], bounds[2 * i + 1]))));
  };
  clients.push(ws);
  await until(() => opened.has(name), 5_000, `${name} open`);
  const t = opened.get(name)!;
  if (batches) t.batchFrames();
  return { t, got };
}

// The frames are opaque to the edge: plain text bytes stand for protocol frames here.
const frame = (s: string) => new TextEncoder().encode(s);

test("one turn's frames to a topic: one Batch to a reader of batches, its own included when the senders differ; one by one, own excepted, to the others", async () => {
  const ann = await connect("ann", true);
  const ben = await connect("ben", true);
  const cat = await connect("cat", false);
  for (const c of [ann, ben, cat]) c.t.subscribe("g");
  broadcaster.publish("g", frame("m1"), ann.t);
  broadcaster.publish("g", frame("m2"), cat.t);
  broadcaster.publish("g", frame("m3"));
  await until(() => ann.got.length === 1 && ben.got.length === 1 && cat.got.length === 2, 5_000, "the turn's frames");
  expect(ann.got).toEqual([["m1", "m2", "m3"]]);
  expect(ben.got).toEqual([["m1", "m2", "m3"]]);
  expect(cat.got).toEqual([["m1"], ["m3"]]);

  // A turn whose frames all come from one sender: the batch skips that sender.
  broadcaster.publish("g", frame("m4"), ben.t);
  broadcaster.publish("g", frame("m5"), ben.t);
  await until(() => ann.got.length === 2 && cat.got.length === 4, 5_000, "the second turn");
  expect(ann.got[1]).toEqual(["m4", "m5"]);
  expect(cat.got.slice(2)).toEqual([["m4"], ["m5"]]);
  // A turn with one frame: the frame itself, not a batch of one.
  broadcaster.publish("g", frame("m6"));
  await until(() => ben.got.length === 2, 5_000, "the third turn");
  expect(ben.got[1]).toEqual(["m6"]);
});

test("a turn's frames to a topic past 64 KiB leave in batches of at most that much and one frame more, in order", async () => {
  const ann = await connect("ann", true);
  ann.t.subscribe("big");
  const big = (s: string) => frame(s.padEnd(40 * 1024, "."));
  broadcaster.publish("big", big("b1"));
  broadcaster.publish("big", big("b2"));
  broadcaster.publish("big", big("b3"));
  await until(() => ann.got.length === 2, 5_000, "both messages");
  expect(ann.got.map((m) => m.map((f) => f.slice(0, 2)))).toEqual([["b1", "b2"], ["b3"]]);
});

test("a connection joining a topic mid-turn gets only what is published after; one leaving gets what was published before", async () => {
  const ann = await connect("ann", true);
  const ben = await connect("ben", true);
  const cat = await connect("cat", false);
  const dan = await connect("dan", false);
  ann.t.subscribe("h");
  cat.t.subscribe("h");
  broadcaster.publish("h", frame("before ben, dan"));
  ben.t.subscribe("h");
  dan.t.subscribe("h");
  broadcaster.publish("h", frame("with all"));
  ann.t.unsubscribe("h");
  cat.t.unsubscribe("h");
  broadcaster.publish("h", frame("after ann, cat"));
  await until(() => ann.got.length === 2 && ben.got.length === 2 && cat.got.length === 2 && dan.got.length === 2, 5_000, "the frames");
  expect(ann.got).toEqual([["before ben, dan"], ["with all"]]);
  expect(cat.got).toEqual([["before ben, dan"], ["with all"]]);
  expect(ben.got).toEqual([["with all"], ["after ann, cat"]]);
  expect(dan.got).toEqual([["with all"], ["after ann, cat"]]);
});

test("a socket's frames of one turn: one Batch when it reads batches, one message each otherwise", async () => {
  const ann = await connect("ann", true);
  const ben = await connect("ben", false);
  const cat = await connect("cat", true);
  for (const c of [ann, ben, cat]) for (const s of ["r1", "r2", "r3"]) expect(c.t.send(frame(s))).toBe(true);
  // Two batches in one turn, each with its own bytes.
  expect(cat.t.send(frame("r4"))).toBe(true);
  await until(() => ann.got.length === 1 && ben.got.length === 3 && cat.got.length === 1, 5_000, "the frames");
  expect(ann.got).toEqual([["r1", "r2", "r3"]]);
  expect(ben.got).toEqual([["r1"], ["r2"], ["r3"]]);
  expect(cat.got).toEqual([["r1", "r2", "r3", "r4"]]);
});
