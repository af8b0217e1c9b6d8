// OpenFileSync (src/storage/sqlite/file-sync.ts): the checkpoint thread syncs the database file
// through a descriptor SQLite holds, never one of its own, and checks it before each use.

import { Database } from "bun:sqlite";
import { afterAll, expect, test } from "bun:test";
import { closeSync, fstatSync, mkdtempSync, openSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { OpenFileSync } from "../../src/storage/sqlite/file-sync.ts";

const dir = mkdtempSync(join(tmpdir(), "msgr-file-sync-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Whether descriptor `fd` is the file at `path`. */
function isFile(fd: number, path: string): boolean {
  const a = fstatSync(fd);
  const b = statSync(path);
  return a.dev === b.dev && a.ino === b.ino;
}

test.skipIf(process.platform !== "linux")("it syncs through the descriptor SQLite opened, and opens none", () => {
  const path = join(dir, "open.db");
  const db = new Database(path, { create: true });
  try {
    db.run("CREATE TABLE t (x)");
    const file = new OpenFileSync(path);
    const fd = file.descriptor();
    expect(fd).not.toBeNull();
    expect(isFile(fd!, path)).toBe(true);
    expect(file.sync()).toBe(true);
    // The same descriptor each time: found once, checked before each use.
    expect(file.descriptor()).toBe(fd);
  } finally {
    db.close();
  }
});

test("a file that nothing in this process holds open is not synced", () => {
  const path = join(dir, "closed.db");
  writeFileSync(path, "");
  expect(new OpenFileSync(path).sync()).toBe(false);
});

test.skipIf(process.platform !== "linux")("once SQLite closed its descriptor, a reuse of the number for another file is not taken for it", () => {
  const path = join(dir, "reused.db");
  const db = new Database(path, { create: true });
  db.run("CREATE TABLE t (x)");
  const file = new OpenFileSync(path);
  const fd = file.descriptor()!;
  db.close();
  // Files are opened until one gets the number SQLite released (new descriptors take the lowest free).
  const other = join(dir, "other");
  writeFileSync(other, "x");
  const opened: number[] = [];
  try {
    while (opened.length < 256 && opened.at(-1) !== fd) opened.push(openSync(other, "r"));
    expect(opened.at(-1)).toBe(fd);
    expect(file.descriptor()).toBeNull();
    expect(file.sync()).toBe(false);
  } finally {
    for (const o of opened) closeSync(o);
  }
});
