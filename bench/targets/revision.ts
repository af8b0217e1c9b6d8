// The target `msgr@REV`: msgr's server as of another revision (anything git names: a commit, a
// branch, HEAD~1), measured in the same invocation as this tree's. The bench runs every target
// once per round before the next round (scenarios/context.ts: eachTarget), so each round measures
// both builds seconds apart: on a shared machine, whose speed drifts by tens of percent within
// minutes, the comparison of two builds that holds (report/paired.ts compares them round by round).
//
// The revision's tree is its committed files (`git archive`), unpacked in the run's temporary
// directory and given this tree's node_modules: a revision whose dependencies differ from this
// one's runs with these.

import { spawnSync } from "node:child_process";
import { mkdirSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { UsageError } from "../lib/cli-args.ts";
import { msgrServer } from "./msgr.ts";
import type { Target } from "./types.ts";

export const REVISION_PREFIX = "msgr@";

const ROOT = new URL("../..", import.meta.url).pathname;

function git(args: string[], input?: Buffer): Buffer {
  const r = spawnSync("git", args, { cwd: ROOT, input, maxBuffer: 1 << 30 });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new UsageError(`git ${args.join(" ")}: ${r.stderr.toString().trim()}`);
  return r.stdout;
}

/** The target of `spec` ("msgr@REV"), its tree unpacked under `tmpRoot`; named after the commit. */
export function revisionTarget(spec: string, tmpRoot: string): Target {
  const rev = spec.slice(REVISION_PREFIX.length);
  if (rev === "") throw new UsageError(`${spec}: name a revision after the @ (a commit, a branch, HEAD~1)`);
  const commit = git(["rev-parse", "--verify", "--short", `${rev}^{commit}`]).toString().trim();
  const dir = join(tmpRoot, `msgr-${commit}`);
  mkdirSync(dir);
  const tar = spawnSync("tar", ["-x", "-C", dir], { input: git(["archive", "--format=tar", commit]) });
  if (tar.status !== 0) throw new Error(`unpacking ${commit}: ${tar.stderr.toString().trim()}`);
  symlinkSync(join(ROOT, "node_modules"), join(dir, "node_modules"));
  return msgrServer(`${REVISION_PREFIX}${commit}`, dir);
}
