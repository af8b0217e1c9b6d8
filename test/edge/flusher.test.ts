// When the edge's once-per-turn flush runs against the end-of-turn work a frame queued (a group
// commit: src/turn-end.ts). The turn boundary is observed with a real loopback socket: a byte
// written during the end-of-turn work is read in a later turn's poll, at the earliest the next,
// so "flushed before the read" means "flushed in the turn that did the work". Without arm(), the
// flush the work's promises ask for runs after the next turn's poll (Bun runs an immediate queued
// by an immediate only then), and on this machine after that read; that order is not asserted
// here, as a loaded kernel may hand the byte over later.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { connect, createServer, type Server, type Socket } from "node:net";
import { Flusher } from "../../src/edge/flusher.ts";
import { atTurnEnd } from "../../src/turn-end.ts";
import { until } from "../helpers/wait.ts";

let server: Server;
let client: Socket;
/** The server's end of the connection: its reads run frames, as the edge's message handler does. */
let serverSide: Socket;
/** What happened, in order: "flush" (the flusher wrote) and "read" (a later turn's poll read the byte). */
let events: string[] = [];
/** The frame the next read on the server's end runs. */
let nextFrame: (() => void) | null = null;

beforeAll(async () => {
  const accepted = new Promise<Socket>((resolve) => {
    server = createServer((s) => {
      s.on("data", () => {
        const frame = nextFrame;
        nextFrame = null;
        frame?.();
      });
      resolve(s);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  client = connect(port, "127.0.0.1");
  client.on("data", () => events.push("read"));
  serverSide = await accepted;
});

afterAll(() => {
  client.destroy();
  server.close();
});

const flusher = new Flusher((err) => {
  throw err;
});
const socket = { flush: () => void events.push("flush") };

/** End-of-turn work like a group commit: its promise continuations queue a frame; it also writes the byte a later poll reads. */
function commitLike(): void {
  atTurnEnd(() => {
    serverSide.write("x");
    void Promise.resolve().then(() => flusher.schedule(socket));
  });
}

/** Runs `frame` in an I/O callback (a read on the server's end), then waits for both events. */
async function inTurn(frame: () => void, expected = 2): Promise<string[]> {
  events = [];
  nextFrame = frame;
  client.write("f");
  await until(() => events.length === expected, 5_000, "the flushes and the read");
  return events;
}

test("arm() after the frame: the work's frames leave in the turn that did the work", async () => {
  expect(
    await inTurn(() => {
      commitLike();
      flusher.arm();
    }),
  ).toEqual(["flush", "read"]);
});

test("a flush queued before the turn's first end-of-turn work is queued again behind it", async () => {
  expect(
    await inTurn(() => {
      // A frame that queued no work wrote a reply (its flush is queued) and armed; a SEND's commit came after.
      flusher.schedule({ flush: () => void events.push("reply") });
      flusher.arm();
      commitLike();
      flusher.arm();
    }, 3),
  ).toEqual(["reply", "flush", "read"]);
});
