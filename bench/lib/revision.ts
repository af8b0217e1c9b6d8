// Which msgr was measured: the commit, and whether src/ differed from it (figures from a
// working tree with uncommitted server changes are not figures of that commit).

import { execFileSync } from "node:child_process";

const ROOT = new URL("../..", import.meta.url).pathname;

export function describeRevision(): string {
  try {
    const git = (...args: string[]) => execFileSync("git", ["-C", ROOT, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
    const commit = git("rev-parse", "--short", "HEAD");
    return git("status", "--porcelain", "--", "src") === "" ? commit : `${commit} with uncommitted changes in src/`;
  } catch {
    return "unknown (not a git checkout)";
  }
}
