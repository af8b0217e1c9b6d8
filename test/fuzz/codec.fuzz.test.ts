// The frame decoder under hostile input (fuzz/): 200,000 generated frames, half from a fixed
// seed and half from a random one that is printed, so a failure always reproduces with
// `npm run fuzz -- --seed S --only I`. Each must decode or be refused with FrameError, pollute
// no prototype, and re-encode to itself when accepted. Longer runs: `npm run fuzz`.

import { describe, expect, test } from "bun:test";
import { decodeCommand, FrameError } from "../../src/proto/codec.ts";
import { ErrorCode } from "../../src/proto/codes.ts";
import { DEFAULT_DECODE_LIMITS } from "../../src/proto/limits.ts";
import { runFuzz, type FuzzReport } from "../../fuzz/run.ts";

const INPUTS = 100_000;

function check(r: FuzzReport): void {
  if (r.failures.length > 0) {
    console.error(`fuzz seed ${r.seed}: first failures`, r.failures.slice(0, 5));
  }
  expect(r.failures).toEqual([]);
  expect(r.inputs).toBe(INPUTS);
  // The generator reaches every layer: some frames pass, and each kind of refusal happens.
  expect(r.accepted).toBeGreaterThan(0);
  for (const code of [ErrorCode.BadFrame, ErrorCode.FrameTooLarge, ErrorCode.UnknownMethod, ErrorCode.InvalidParams]) {
    expect(r.refused[code] ?? 0).toBeGreaterThan(0);
  }
  expect(Object.keys(r.refused).map(Number).sort()).toEqual([ErrorCode.BadFrame, ErrorCode.FrameTooLarge, ErrorCode.UnknownMethod, ErrorCode.InvalidParams].sort());
}

describe("frame decoder fuzz", () => {
  test(`${INPUTS.toLocaleString("en")} inputs from the fixed seed`, () => {
    check(runFuzz({ seed: 0x5eed, inputs: INPUTS }));
  });

  test(`${INPUTS.toLocaleString("en")} inputs from a random seed`, () => {
    const seed = Math.floor(Math.random() * 2 ** 31);
    console.error(`frame decoder fuzz: random seed ${seed} (reproduce: npm run fuzz -- --seed ${seed} --inputs ${INPUTS})`);
    check(runFuzz({ seed, inputs: INPUTS }));
  });

  // Found by `npm run fuzz -- --inputs 10000000 --seed 20261128` (#3023790, #7333926): SYNC with a
  // cursor named "toJSON" and a truthy seq decoded, then msgpackr called it as a method when the
  // command was encoded again. Such a key is refused by the structural scan now.
  test.each(["94cf0000000000000001ce000001e7cc0381a7637572736f727381a6746f4a534f4ecf0000000000000001", "94cc01cd025cd3000000000000000381a7637572736f727381a6746f4a534f4eccff"])(
    "a cursor named toJSON is refused as a forbidden key: %s",
    (hex) => {
      let err: unknown;
      try {
        decodeCommand(Buffer.from(hex, "hex"), DEFAULT_DECODE_LIMITS);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(FrameError);
      expect((err as FrameError).code).toBe(ErrorCode.BadFrame);
      expect((err as FrameError).message).toContain("forbidden");
    },
  );
});
