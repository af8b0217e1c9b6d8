// One process owns an embedded database (owner-lock.ts): a second open of the same file, from
// this process or another, is refused with a clear error and changes nothing; the owner's end,
// a kill included, frees it.

import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openSqlite } from "../../src/storage/sqlite/db.ts";
import { DatabaseInUse } from "../../src/storage/sqlite/owner-lock.ts";

const dir = mkdtempSync(join(tmpdir(), "msgr-owner-lock-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const DB = join(import.meta.dir, "../../src/storage/sqlite/db.ts");

test("a second open in this process is refused until the first closes", async () => {
  const path = join(dir, "same.db");
  const first = openSqlite({ path, synchronous: "normal" });
  await first.messages.append({ conv: "c", id: 1n, from: "a", dev: "d", cid: "k", kind: 1, body: Uint8Array.of(1), ts: 1 });
  expect(() => openSqlite({ path, synchronous: "normal" })).toThrow(DatabaseInUse);
  // The refused open changed nothing: the owner goes on.
  expect((await first.messages.range("c", 0, 10)).length).toBe(1);
  await first.close();
  const second = openSqlite({ path, synchronous: "normal" });
  expect((await second.messages.range("c", 0, 10)).length).toBe(1);
  await second.close();
});

test("another process's open is refused while it holds the file, and allowed once it is killed", async () => {
  const path = join(dir, "other.db");
  const owner = Bun.spawn(["bun", "-e", `import { openSqlite } from ${JSON.stringify(DB)}; openSqlite({ path: ${JSON.stringify(path)}, synchronous: "normal" }); console.log("open"); setInterval(() => {}, 1 << 30);`], { stdout: "pipe", stderr: "inherit" });
  try {
    const reader = owner.stdout.getReader();
    let out = "";
    while (!out.includes("open")) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`the owner exited: ${out}`);
      out += new TextDecoder().decode(value);
    }
    expect(() => openSqlite({ path, synchronous: "normal" })).toThrow(/in use by another msgr process/);
  } finally {
    owner.kill(9);
    await owner.exited;
  }
  const after = openSqlite({ path, synchronous: "normal" });
  await after.close();
});
