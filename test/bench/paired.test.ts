import { expect, test } from "bun:test";
import { mkdtempSync, rmSync, existsSync, realpathSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { UsageError } from "../../bench/lib/cli-args.ts";
import { comparePaired, signTestP } from "../../bench/report/paired.ts";
import { revisionTarget } from "../../bench/targets/revision.ts";

const ROOT = new URL("../..", import.meta.url).pathname;

test("the sign test's p is the exact two-sided binomial tail", () => {
  // 10 of 10 one way: 2 / 2^10.
  expect(signTestP(10, 0)).toBeCloseTo(2 / 1024, 12);
  expect(signTestP(0, 10)).toBeCloseTo(2 / 1024, 12);
  // 8 of 10: 2 * (1 + 10 + 45) / 1024.
  expect(signTestP(8, 2)).toBeCloseTo((2 * 56) / 1024, 12);
  // An even split, or nothing to split, says nothing.
  expect(signTestP(5, 5)).toBe(1);
  expect(signTestP(0, 0)).toBe(1);
  // No overflow over many rounds: 600 of 1,200 is an even split, 700 of 1,200 is far from one.
  expect(signTestP(600, 600)).toBe(1);
  expect(signTestP(700, 500)).toBeLessThan(1e-6);
});

test("rounds are compared pairwise: ratios, their median, and which way each went", () => {
  const c = comparePaired("direct", "cpu", "msgr@abc", [9, 20, 10, 12, Number.NaN], [10, 10, 10, 10, 10]);
  // The fifth round has no figure for this tree: left out, as a round the other build lacks would be.
  expect(c.ratios).toEqual([0.9, 2, 1, 1.2]);
  expect(c.medianRatio).toBeCloseTo(1.1, 12);
  expect([c.lower, c.higher]).toEqual([1, 2]);
  expect(c.p).toBe(1);
  expect(comparePaired("direct", "cpu", "msgr@abc", [1, 2], [2]).ratios).toEqual([0.5]);
});

test("msgr@REV unpacks that revision's tree, named after its commit, with this tree's node_modules", () => {
  const tmp = mkdtempSync(join(tmpdir(), "msgr-revision-test-"));
  try {
    const commit = Bun.spawnSync(["git", "rev-parse", "--short", "HEAD"], { cwd: ROOT }).stdout.toString().trim();
    const target = revisionTarget("msgr@HEAD", tmp);
    expect(target.name).toBe(`msgr@${commit}`);
    const dir = join(tmp, `msgr-${commit}`);
    expect(existsSync(join(dir, "src/cli/main.ts"))).toBe(true);
    expect(realpathSync(join(dir, "node_modules"))).toBe(realpathSync(join(ROOT, "node_modules")));
    expect(() => revisionTarget("msgr@no-such-revision", tmp)).toThrow(UsageError);
    expect(() => revisionTarget("msgr@", tmp)).toThrow(UsageError);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
