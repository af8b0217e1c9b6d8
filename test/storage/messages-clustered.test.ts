// Migration 0005 rebuilds messages as a WITHOUT ROWID table clustered on (conv_id, seq): rows,
// their media and 64-bit ids, duplicate detection and the last seq survive it; the timestamp
// index exists exactly when the server prunes.

import { Database } from "bun:sqlite";
import { afterAll, expect, test } from "bun:test";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { drizzle } from "drizzle-orm/bun-sqlite";
import { migrate } from "drizzle-orm/bun-sqlite/migrator";
import { openSqlite } from "../../src/storage/sqlite/db.ts";

const MIGRATIONS = join(import.meta.dir, "../../src/storage/sqlite/migrations");
const dir = mkdtempSync(join(tmpdir(), "msgr-clustered-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function migrationsBefore(tag: string): string {
  const out = join(dir, "migrations");
  cpSync(MIGRATIONS, out, { recursive: true });
  const journalPath = join(out, "meta", "_journal.json");
  const journal = JSON.parse(readFileSync(journalPath, "utf8")) as { entries: { tag: string }[] };
  const stop = journal.entries.findIndex((e) => e.tag === tag);
  expect(stop).toBeGreaterThan(0);
  journal.entries = journal.entries.slice(0, stop);
  writeFileSync(journalPath, JSON.stringify(journal));
  return out;
}

const BIG = (1n << 62n) + 7n;

test("messages stored before the rebuild survive it, with their seqs, ids, media and client ids", async () => {
  const path = join(dir, "msgr.db");
  const old = new Database(path, { create: true, strict: true });
  migrate(drizzle({ client: old }), { migrationsFolder: migrationsBefore("0005_messages_clustered") });
  const insert = old.query(`INSERT INTO messages (conv_id, seq, id, sender, device, cid, kind, body, ts, media) VALUES (?, ?, ?, 'alice', 'phone', ?, 1, ?, ?, ?)`);
  insert.run("c1", 1, BIG, "a", new Uint8Array([1]), 1_000, null);
  insert.run("c1", 2, BIG + 1n, "b", new Uint8Array([2]), 2_000, "m" + "0".repeat(32));
  insert.run("c2", 1, BIG + 2n, "a", new Uint8Array([3]), 3_000, null);
  old.query(`INSERT INTO conv_seq (conv_id, last_seq) VALUES ('c1', 2), ('c2', 1)`).run();
  old.close();

  const backend = openSqlite({ path, synchronous: "normal" });
  try {
    const { messages } = backend;
    const rows = await messages.range("c1", 0, 10);
    expect(rows.map((m) => [m.seq, m.id, m.cid, m.media])).toEqual([
      [1, BIG, "a", undefined],
      [2, BIG + 1n, "b", "m" + "0".repeat(32)],
    ]);
    expect(await messages.lastSeq("c1")).toBe(2);
    // The client-id index came back: a resend is the original.
    const dup = await messages.append({ conv: "c1", id: BIG + 9n, from: "alice", dev: "phone", cid: "b", kind: 1, body: new Uint8Array([9]), ts: 4_000 });
    expect(dup).toMatchObject({ duplicate: true, message: { seq: 2, id: BIG + 1n } });
    const next = await messages.append({ conv: "c1", id: BIG + 10n, from: "alice", dev: "phone", cid: "c", kind: 1, body: new Uint8Array([10]), ts: 5_000 });
    expect(next).toMatchObject({ duplicate: false, message: { seq: 3 } });
  } finally {
    await backend.close();
  }
  const check = new Database(path, { readonly: true });
  try {
    const table = check.query(`SELECT sql FROM sqlite_master WHERE name = 'messages'`).get() as { sql: string };
    expect(table.sql).toContain("WITHOUT ROWID");
    const indexes = () => (check.query(`SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'messages' AND sql IS NOT NULL`).all() as { name: string }[]).map((r) => r.name).sort();
    expect(indexes()).toEqual(["messages_client_id_idx"]);
  } finally {
    check.close();
  }
  // A pruning server gets the timestamp index; one that keeps everything drops it again.
  const pruning = openSqlite({ path, synchronous: "normal", pruning: true });
  await pruning.close();
  const withTs = new Database(path, { readonly: true });
  expect((withTs.query(`SELECT count(*) AS n FROM sqlite_master WHERE name = 'messages_ts_idx'`).get() as { n: number }).n).toBe(1);
  withTs.close();
  const keeping = openSqlite({ path, synchronous: "normal" });
  await keeping.close();
  const without = new Database(path, { readonly: true });
  expect((without.query(`SELECT count(*) AS n FROM sqlite_master WHERE name = 'messages_ts_idx'`).get() as { n: number }).n).toBe(0);
  without.close();
});
