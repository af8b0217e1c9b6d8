// Codec micro-benchmark: the server's full decode path (size cap, structural scan, msgpackr,
// parameter validation) beside plain msgpackr.unpack and JSON.parse of the same command, in
// one run, so the cost of the safety checks is read as a ratio; and a MESSAGE push each way, the
// server's write and a client's read, alone and in a batch. Medians of several rounds.
// Run: bun bench/codec.bench.ts

import { Unpackr } from "msgpackr";
import { Method } from "../src/proto/codes.ts";
import { decodeCommand, decodeServerFrame, encodeCommand, encodePush } from "../src/proto/codec.ts";
import { PushKind } from "../src/proto/codes.ts";
import { encodeBatch, frameBoundsOfBatch } from "../src/proto/frame-batch.ts";

const body = new TextEncoder().encode("hello, this is a typical short chat message body");
const params = { conv: "c0123456789abcdef0123456789abcdef", cid: "9f1c2e7a-4b8d-4c1e-a3f0-123456789abc", kind: 1, body };
const frame = encodeCommand(42, Method.Send, params);
const json = JSON.stringify([1, 42, Method.Send, { ...params, body: Buffer.from(body).toString("base64") }]);
const plain = new Unpackr({ useRecords: false, mapsAsObjects: true });
const push = { conv: params.conv, seq: 123456, id: (1n << 60n) + 99n, from: "alice", dev: "phone", cid: params.cid, kind: 1, body, ts: Date.now() };
const pushFrame = encodePush(PushKind.Message, push);
// A group's messages of one server turn, as the server batches them for a client (protocol §3.5).
const BATCHED = 8;
// A copy: the envelope is written in a buffer that the next frame encoded reuses.
const batch = encodeBatch(Array.from({ length: BATCHED }, (_, i) => encodePush(PushKind.Message, { ...push, seq: push.seq + i, cid: crypto.randomUUID() }))).slice();
function readBatch(): void {
  const bounds = frameBoundsOfBatch(batch);
  for (let i = 0; i < bounds.length; i += 2) decodeServerFrame(batch, bounds[i], bounds[i + 1]);
}

const N = 200_000;
const ROUNDS = 7;
function opsPerSec(fn: () => unknown): number {
  const rates: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const t = Bun.nanoseconds();
    for (let i = 0; i < N; i++) fn();
    rates.push(N / ((Bun.nanoseconds() - t) / 1e9));
  }
  rates.sort((a, b) => a - b);
  return rates[ROUNDS >> 1]!;
}

const rows: [string, number][] = [
  ["decodeCommand (scan + read + validate)", opsPerSec(() => decodeCommand(frame))],
  ["msgpackr.unpack only (no checks)", opsPerSec(() => plain.unpack(frame))],
  ["JSON.parse of the same command", opsPerSec(() => JSON.parse(json))],
  ["encodePush (MESSAGE)", opsPerSec(() => encodePush(PushKind.Message, push))],
  ["decodeServerFrame (MESSAGE, a client's read)", opsPerSec(() => decodeServerFrame(pushFrame))],
  [`MESSAGE in a batch of ${BATCHED} (a client's read)`, opsPerSec(readBatch) * BATCHED],
];
const base = rows[1]![1];
console.log(`codec bench, bun ${Bun.version}, ${N} ops x ${ROUNDS} rounds, median; frame ${frame.length} B (JSON ${json.length} B)`);
for (const [name, rate] of rows) console.log(`${name.padEnd(46)} ${(rate / 1e6).toFixed(2).padStart(6)} M ops/s   ${(rate / base).toFixed(2)}x of msgpackr.unpack`);
