// npm run fuzz -- [--inputs N] [--seed S] [--max-ms M] [--only I]
// Long fuzz runs of the frame decoder (see run.ts for what is checked). Prints the seed, so any
// failure reproduces with --seed S --only I; exits 1 on any failure.

import { parseArgs } from "node:util";
import { fuzzInput } from "./generator.ts";
import { runFuzz } from "./run.ts";

const { values } = parseArgs({
  options: {
    inputs: { type: "string", default: "1000000" },
    seed: { type: "string" },
    "max-ms": { type: "string", default: "100" },
    only: { type: "string" },
    help: { type: "boolean", short: "h" },
  },
});
if (values.help) {
  console.log("npm run fuzz -- [--inputs N (1000000)] [--seed S (random)] [--max-ms M (100)] [--only INDEX]");
  process.exit(0);
}
const num = (name: string, v: string | undefined) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) {
    console.error(`--${name} must be a non-negative integer`);
    process.exit(2);
  }
  return n;
};
const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : num("seed", values.seed);

if (values.only !== undefined) {
  const i = num("only", values.only);
  console.log(Buffer.from(fuzzInput(seed, i)).toString("hex"));
  process.exit(0);
}

const inputs = num("inputs", values.inputs);
console.error(`fuzz: ${inputs.toLocaleString("en")} inputs, seed ${seed}`);
const r = runFuzz({ seed, inputs, maxMs: num("max-ms", values["max-ms"]), onProgress: (n) => console.error(`  ${n.toLocaleString("en")} done`) });
const rate = r.inputs / (r.elapsedMs / 1000);
console.log(
  JSON.stringify({
    seed: r.seed,
    inputs: r.inputs,
    accepted: r.accepted,
    refused: r.refused,
    failures: r.failures.length,
    seconds: +(r.elapsedMs / 1000).toFixed(1),
    inputsPerSecond: Math.round(rate),
    slowestMs: +r.slowestMs.toFixed(2),
    slowestIndex: r.slowestIndex,
    stalls: r.stalls,
  }),
);
for (const f of r.failures.slice(0, 20)) console.error(`FAIL #${f.index}: ${f.reason}\n  ${f.hex}`);
process.exit(r.failures.length === 0 ? 0 : 1);
