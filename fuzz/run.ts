// Runs fuzz inputs through the server's frame decoder (decodeCommand) and checks, for each:
//  1. it returns a command or throws FrameError, and nothing else;
//  2. no prototype was polluted (Object, Array and Function prototypes keep their own keys);
//  3. a decoded command re-encodes to a frame that decodes to the same command.
// It also times each input; `maxMs` turns a slow input into a failure (the CLI's choice: a unit
// test never asserts on time, since shared machines stall). An input over `maxMs` is timed
// three more times and fails only if it is slow every time: a stall of the machine (a busy
// neighbour, a collection) is not the input's doing.

import { decodeCommand, encodeCommand, FrameError } from "../src/proto/codec.ts";
import { DEFAULT_DECODE_LIMITS } from "../src/proto/limits.ts";
import { fuzzInput } from "./generator.ts";

export interface FuzzOptions {
  seed: number;
  inputs: number;
  /** Inputs slower than this are failures (CLI only). */
  maxMs?: number;
  onProgress?: (done: number) => void;
}

export interface FuzzFailure {
  index: number;
  reason: string;
  hex: string;
}

export interface FuzzReport {
  seed: number;
  inputs: number;
  accepted: number;
  /** Refusals by protocol error code. */
  refused: Record<number, number>;
  failures: FuzzFailure[];
  elapsedMs: number;
  slowestMs: number;
  slowestIndex: number;
  /** Inputs over maxMs once that were fast when timed again: stalls of the machine. */
  stalls: number;
}

function timeDecode(input: Uint8Array, limits: typeof DEFAULT_DECODE_LIMITS): number {
  const t0 = performance.now();
  try {
    decodeCommand(input, limits);
  } catch {
    // Refusals were checked on the first pass; only the time matters here.
  }
  return performance.now() - t0;
}

const PROTOTYPES: [string, object][] = [
  ["Object.prototype", Object.prototype],
  ["Array.prototype", Array.prototype],
  ["Function.prototype", Function.prototype],
];

function protoKeys(): string {
  return PROTOTYPES.map(([, p]) => Reflect.ownKeys(p).length).join(",");
}

const toHex = (b: Uint8Array) => Buffer.from(b.subarray(0, 512)).toString("hex") + (b.length > 512 ? "…" : "");

export function runFuzz(opts: FuzzOptions): FuzzReport {
  const limits = DEFAULT_DECODE_LIMITS;
  const before = protoKeys();
  const report: FuzzReport = { seed: opts.seed, inputs: 0, accepted: 0, refused: {}, failures: [], elapsedMs: 0, slowestMs: 0, slowestIndex: -1, stalls: 0 };
  const started = performance.now();
  for (let i = 0; i < opts.inputs; i++) {
    const input = fuzzInput(opts.seed, i);
    const fail = (reason: string) => report.failures.push({ index: i, reason, hex: toHex(input) });
    const t0 = performance.now();
    try {
      const cmd = decodeCommand(input, limits);
      const again = decodeCommand(encodeCommand(cmd.id, cmd.method, cmd.params), limits);
      if (!Bun.deepEquals(again, cmd, true)) fail("a decoded command does not survive re-encoding");
      report.accepted++;
    } catch (e) {
      if (e instanceof FrameError) report.refused[e.code] = (report.refused[e.code] ?? 0) + 1;
      else fail(`threw ${e instanceof Error ? `${e.constructor.name}: ${e.message}` : typeof e}, not FrameError`);
    }
    const ms = performance.now() - t0;
    if (ms > report.slowestMs) {
      report.slowestMs = ms;
      report.slowestIndex = i;
    }
    if (opts.maxMs !== undefined && ms > opts.maxMs) {
      const best = Math.min(ms, ...[0, 1, 2].map(() => timeDecode(input, limits)));
      if (best > opts.maxMs) fail(`took ${best.toFixed(1)} ms, best of four (limit ${opts.maxMs})`);
      else report.stalls++;
    }
    if (protoKeys() !== before) {
      fail("a prototype gained or lost keys");
      break;
    }
    report.inputs++;
    if (opts.onProgress && i % 100_000 === 99_999) opts.onProgress(i + 1);
  }
  report.elapsedMs = performance.now() - started;
  return report;
}
