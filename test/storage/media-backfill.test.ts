// Media recorded before upload slots expired and before sends made copies: after migrating, sent
// media is served from the key its upload wrote, and unsent media gets a slot that ends an hour
// after it was issued, so the sweeper removes it.

import { Database } from "bun:sqlite";
import { afterAll, expect, test } from "bun:test";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { drizzle } from "drizzle-orm/bun-sqlite";
import { migrate } from "drizzle-orm/bun-sqlite/migrator";
import { openSqlite } from "../../src/storage/sqlite/db.ts";

const MIGRATIONS = join(import.meta.dir, "../../src/storage/sqlite/migrations");
const dir = mkdtempSync(join(tmpdir(), "msgr-media-backfill-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A copy of the migrations folder that stops before `tag`. */
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

test("media rows from before slots and copies are served from their upload key, or expire an hour after issue", async () => {
  const path = join(dir, "msgr.db");
  const old = new Database(path, { create: true, strict: true });
  migrate(drizzle({ client: old }), { migrationsFolder: migrationsBefore("0003_media_slots") });
  const insert = old.query(`INSERT INTO media (id, owner, content_type, size, sha256, created_at, conv_id, thumb) VALUES (?, 'alice', 'image/png', 10, ?, ?, ?, ?)`);
  const sha = "a".repeat(64);
  insert.run("msent", sha, 1_000, "c1", "mthumb");
  insert.run("mthumb", sha, 2_000, "c1", null);
  insert.run("munsent", sha, 3_000, null, null);
  old.close();

  const backend = openSqlite({ path, synchronous: "normal" });
  try {
    const { metadata } = backend;
    expect(await metadata.getMedia("msent")).toMatchObject({ conv: "c1", objectKey: "media/msent", expiresAt: null, thumb: "mthumb" });
    expect(await metadata.getMedia("mthumb")).toMatchObject({ conv: "c1", objectKey: "media/mthumb", expiresAt: null });
    expect(await metadata.getMedia("munsent")).toMatchObject({ conv: null, objectKey: null, expiresAt: 3_000 + 3_600_000 });
    expect((await metadata.listExpiredUploads(3_000 + 3_600_000, 10)).map((m) => m.id)).toEqual(["munsent"]);
  } finally {
    await backend.close();
  }
});
