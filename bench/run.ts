// The load-test harness: `npm run bench -- <direct|group|connections|resume|durable|all> [options]`.
// Starts each server under test (msgr and its peers) fresh for every measurement, drives it
// from generator processes on other cores with the same scenario code, measures from /proc and
// from HdrHistograms, and writes bench/results/. See bench/README.md.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { killChildrenOnExit } from "./lib/children.ts";
import { parseBenchArgs, UsageError, type ScenarioName } from "./lib/cli-args.ts";
import { describeMachine } from "./lib/machine.ts";
import { choosePinning } from "./lib/pinning.ts";
import { ProgressLine } from "./lib/progress.ts";
import { describeRevision } from "./lib/revision.ts";
import { writeLatest, writeReadmeFigures, writeScenarioJson } from "./report/write.ts";
import type { ScenarioContext } from "./scenarios/context.ts";
import { runConnections } from "./scenarios/connections.ts";
import { runDirect } from "./scenarios/direct.ts";
import { runDurable } from "./scenarios/durable.ts";
import { runGroup } from "./scenarios/group.ts";
import { runResume } from "./scenarios/resume.ts";
import type { ScenarioResult } from "./scenarios/types.ts";
import { TARGETS, targetByName } from "./targets/index.ts";

const RUNNERS: Record<ScenarioName, (ctx: ScenarioContext) => Promise<ScenarioResult>> = {
  direct: runDirect,
  group: runGroup,
  connections: runConnections,
  resume: runResume,
  durable: runDurable,
};

async function main(argv: string[]): Promise<void> {
  const args = parseBenchArgs(argv);
  const tmpRoot = mkdtempSync(join(tmpdir(), "msgr-bench-"));
  killChildrenOnExit(() => rmSync(tmpRoot, { recursive: true, force: true }));

  const selected = args.peers ? args.peers.map((name) => targetByName(name, tmpRoot)) : TARGETS;
  const skipped = TARGETS.filter((t) => !selected.includes(t)).map((t) => ({ target: t.name, reason: "not selected (--peers)" }));
  const targets = selected.filter((t) => {
    const why = t.unavailable();
    if (why) skipped.push({ target: t.name, reason: why });
    return !why;
  });
  const pinning = choosePinning(args.pin);
  const progress = new ProgressLine();
  const ctx: ScenarioContext = {
    args,
    pinning,
    progress,
    targets,
    tmpRoot,
    skipped,
    meta: {
      startedAt: new Date().toISOString(),
      profile: args.profileName,
      command: `npm run bench -- ${argv.join(" ")}`,
      revision: describeRevision(),
      machine: describeMachine(),
      pinning: pinning.note,
      rounds: args.profile.rounds,
    },
  };
  for (const s of skipped) progress.note(`skipping ${s.target}: ${s.reason}`);
  progress.note(`pinning: ${pinning.note}`);

  const results: ScenarioResult[] = [];
  for (const scenario of args.scenarios) {
    const started = performance.now();
    const result = await RUNNERS[scenario](ctx);
    results.push(result);
    progress.note(`${scenario}: ${((performance.now() - started) / 1000).toFixed(1)} s, wrote ${writeScenarioJson(result)}`);
  }
  progress.done();
  const written = writeLatest(results);
  if (args.scenarios.length > 1 && args.profileName === "quick" && !args.overridden) written.push(writeReadmeFigures(results));
  console.log(`wrote ${written.join(", ")}`);
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (e: unknown) => {
    if (e instanceof UsageError) {
      console.error(e.message);
      process.exit(2);
    }
    console.error(`\nbench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    process.exit(1);
  },
);
