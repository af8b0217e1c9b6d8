// The admin API's database copy (src/admin/backup.ts): one at a time per data directory, from
// the moment it is asked for until it is sent or let go, and nothing of it left on disk.

import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { copyDatabase } from "../../src/admin/backup.ts";

const dir = mkdtempSync(join(tmpdir(), "msgr-admin-backup-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A snapshot that writes `content`, once `gate` resolves. */
const writing = (content: string, gate: Promise<void> = Promise.resolve()) => async (path: string) => {
  await gate;
  writeFileSync(path, content);
};

test("a second copy is refused while the first is written and while it is sent; once sent, the next is taken", async () => {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const first = copyDatabase(writing("first copy", gate), dir);
  expect(await copyDatabase(writing("refused"), dir)).toBeNull();
  release();
  const copy = (await first)!;
  expect(copy.bytes).toBe("first copy".length);
  // Its name is gone already; the open file is what is sent.
  expect(readdirSync(dir)).toEqual([]);
  expect(await copyDatabase(writing("refused"), dir)).toBeNull();
  expect(await new Response(copy.stream).text()).toBe("first copy");
  const next = (await copyDatabase(writing("next"), dir))!;
  expect(await new Response(next.stream).text()).toBe("next");
});

test("a copy let go unread, or one whose snapshot failed, frees the next; a copy a crash left behind is removed", async () => {
  const unread = (await copyDatabase(writing("unread"), dir))!;
  await unread.stream.cancel();
  const failed = await copyDatabase(async () => {
    throw new Error("disk full");
  }, dir).then(
    () => "copied",
    (e: Error) => e.message,
  );
  expect(failed).toBe("disk full");
  writeFileSync(join(dir, ".backup-0123456789abcdef.db"), "left by a crash");
  const after = (await copyDatabase(writing("after"), dir))!;
  expect(readdirSync(dir)).toEqual([]);
  expect(await new Response(after.stream).text()).toBe("after");
});
