import { expect, test } from "bun:test";
import { rowsOf, Transcript, visibleWidth } from "../../src/cli/transcript.ts";

test("colour sequences take no columns; long lines wrap", () => {
  expect(visibleWidth("\x1b[34m✓✓\x1b[0m")).toBe(2);
  expect(rowsOf("", 80)).toBe(1);
  expect(rowsOf("x".repeat(80), 80)).toBe(1);
  expect(rowsOf("x".repeat(81), 80)).toBe(2);
  expect(rowsOf("commands:\n  /dm USER\n", 80)).toBe(3);
});

test("a keyed line is found counting the rows printed after it", () => {
  const t = new Transcript();
  t.add("header");
  t.add("09:00:00 alice: hi ✓", "c:1");
  t.add("y".repeat(100)); // two rows at 80 columns
  t.add("09:00:01 bob: yo");
  // up = rows below it (2 + 1) + its own row.
  expect(t.placeFor("c:1", "09:00:00 alice: hi ✓✓", 80, 24, 2)).toEqual({ up: 4, rows: 1 });
  t.replace("c:1", "09:00:00 alice: hi ✓✓");
  expect(t.textOf("c:1")).toBe("09:00:00 alice: hi ✓✓");
});

test("the latest line with a key is the one rewritten", () => {
  const t = new Transcript();
  t.add("old copy", "c:1");
  t.add("other");
  t.add("new copy", "c:1");
  expect(t.placeFor("c:1", "new copy ✓", 80, 24, 1)).toEqual({ up: 1, rows: 1 });
});

test("a line scrolled off the screen, of another height, or never printed is not rewritten in place", () => {
  const t = new Transcript();
  t.add("mine ✓", "c:1");
  for (let i = 0; i < 30; i++) t.add(`line ${i}`);
  expect(t.placeFor("c:1", "mine ✓✓", 80, 24, 1)).toBeNull();
  const u = new Transcript();
  u.add("x".repeat(79), "c:2");
  expect(u.placeFor("c:2", "x".repeat(81), 80, 24, 1)).toBeNull();
  expect(u.placeFor("nope", "x", 80, 24, 1)).toBeNull();
});

test("only the last lines are kept", () => {
  const t = new Transcript(3);
  t.add("a", "k");
  t.add("b");
  t.add("c");
  t.add("d");
  expect(t.textOf("k")).toBeUndefined();
});
