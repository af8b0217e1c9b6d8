// What per-message objects cost Bun's garbage collector beyond their allocation: the patterns
// behind src/object-memo.ts and frame-reader.ts's copied bins. A Bun.serve WebSocket server takes
// 300,000 frames of 160 bytes from a client process (64 in flight) and keeps, for each, a
// message-like object (a few fields and a 100-byte body), 2,000 of them at a time as messages in
// flight are; Bun runs a young ("eden") collection on a timer meanwhile. Each variant runs in a
// server process of its own; the figures are medians of the rounds. What each variant keeps:
//   plain      the object, its body allocated apart
//   weakmap    and its encoded form in a WeakMap keyed by the object
//   memo       and the same on the object itself (ObjectMemo)
//   view       its body a view (subarray) into the received frame
//   copy       its body copied out of the frame (through a view dropped at once)
// The collector's pauses come from JavaScriptCore's own log (BUN_JSC_logGC).
// Run: bun bench/gc-pressure.bench.ts [--rounds 5]

import { parseArgs } from "node:util";
import { ObjectMemo } from "../src/object-memo.ts";

const VARIANTS = ["plain", "weakmap", "memo", "view", "copy"] as const;
type Variant = (typeof VARIANTS)[number];
const FRAMES = 300_000;
const KEPT = 2_000;

const CLIENT = `
const [url, frames] = process.argv.slice(-2);
const ws = new WebSocket(url);
const frame = new Uint8Array(160);
let sent = 0;
ws.onopen = () => { for (; sent < 64; sent++) ws.send(frame); };
ws.onmessage = () => { if (sent < +frames) { ws.send(frame); sent++; } };
`;

/** The server side of one variant: µs per frame, from the first frame to the last. */
async function serve(variant: Variant): Promise<number> {
  // A long-lived heap beside the traffic, as a server's connections and caches are.
  const live: object[] = [];
  for (let i = 0; i < 200_000; i++) live.push({ id: i, name: `user-${i}` });
  const weak = new WeakMap<object, Uint8Array>();
  const memo = new ObjectMemo<object, Uint8Array>("bench");
  const encoded = new Uint8Array(250);
  const kept: object[] = new Array(KEPT);
  const ack = new Uint8Array(8);
  let n = 0;
  let start = 0;
  const { promise: done, resolve } = Promise.withResolvers<number>();
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: (req, s) => (s.upgrade(req) ? undefined : new Response("upgrade", { status: 400 })),
    websocket: {
      message(ws, frame) {
        if (typeof frame === "string") return;
        if (n === 0) start = performance.now();
        let body: Uint8Array;
        if (variant === "view") body = frame.subarray(40, 140);
        else if (variant === "copy") {
          body = new Uint8Array(100);
          body.set(frame.subarray(40, 140));
        } else body = new Uint8Array(100);
        const msg = { conv: "d:alice:bob", seq: n, from: "alice", body };
        if (variant === "weakmap") weak.set(msg, encoded);
        else if (variant === "memo") memo.set(msg, encoded);
        kept[n % KEPT] = msg;
        ws.send(ack);
        if (++n === FRAMES) resolve(((performance.now() - start) * 1000) / FRAMES);
      },
    },
  });
  const { BUN_JSC_logGC: _, ...env } = process.env;
  const client = Bun.spawn([process.execPath, "-e", CLIENT, `ws://127.0.0.1:${server.port}`, String(FRAMES)], { env, stdout: "ignore", stderr: "ignore" });
  const us = await done;
  client.kill();
  server.stop(true);
  // Read, so that the long-lived heap stays reachable until the frames are all in.
  if (live.length === 0) throw new Error("unreachable");
  return us;
}

/** Per young collection, its pauses added up; and all pauses (ms), from JavaScriptCore's log. */
function pauses(log: string): { young: number[]; total: number } {
  const young: number[] = [];
  let total = 0;
  for (const c of log.split("START M ").slice(1)) {
    const sum = [...c.matchAll(/p=([0-9.]+)ms/g)].reduce((a, m) => a + Number(m[1]), 0);
    total += sum;
    if (c.includes("=> EdenCollection")) young.push(sum);
  }
  return { young, total };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const variant = process.argv[2] as Variant;
if (VARIANTS.includes(variant)) {
  console.log(`RESULT ${await serve(variant)}`);
  process.exit(0);
} else {
  const { values } = parseArgs({ options: { rounds: { type: "string", default: "5" } } });
  const rounds = Number(values.rounds);
  const rows = new Map<Variant, { us: number[]; young: number[]; perK: number[] }>(VARIANTS.map((v) => [v, { us: [], young: [], perK: [] }]));
  for (let r = 0; r < rounds; r++) {
    for (const v of VARIANTS) {
      const p = Bun.spawnSync([process.execPath, import.meta.path, v], { env: { ...process.env, BUN_JSC_logGC: "1" } });
      const log = p.stdout.toString() + p.stderr.toString();
      const result = /RESULT ([0-9.]+)/.exec(log);
      if (p.exitCode !== 0 || !result) throw new Error(`${v}: exit ${p.exitCode}\n${log.slice(-2000)}`);
      const gc = pauses(log);
      const row = rows.get(v)!;
      row.us.push(Number(result[1]));
      row.young.push(median(gc.young));
      row.perK.push((gc.total * 1000) / FRAMES);
    }
  }
  console.log(`${FRAMES.toLocaleString("en")} frames, ${KEPT.toLocaleString("en")} messages kept at a time, medians of ${rounds} rounds:`);
  console.log("variant  server µs per frame  young collection pause ms  GC pauses ms per 1k frames");
  for (const [v, row] of rows) console.log(`${v.padEnd(8)} ${median(row.us).toFixed(2).padStart(19)}  ${median(row.young).toFixed(2).padStart(25)}  ${median(row.perK).toFixed(3).padStart(26)}`);
}
