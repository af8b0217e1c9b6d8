// A database from before the safety tables: after migrating, users who had authenticated are
// registered (from their first device), and a member is in a conversation by choice when they
// created or opened it, or wrote in it. SQLite here; test/contract/postgres.test.ts runs the
// same on PostgreSQL.

import { Database } from "bun:sqlite";
import { afterAll, expect, test } from "bun:test";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { drizzle } from "drizzle-orm/bun-sqlite";
import { migrate } from "drizzle-orm/bun-sqlite/migrator";
import { openSqlite } from "../../src/storage/sqlite/db.ts";
import { expectSafetyBackfilled, SAFETY_BACKFILL_FIXTURE } from "./safety-backfill-fixture.ts";

const MIGRATIONS = join(import.meta.dir, "../../src/storage/sqlite/migrations");
const dir = mkdtempSync(join(tmpdir(), "msgr-safety-backfill-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("users are registered from their devices, and creators, openers and writers are members by choice", async () => {
  const migrations = join(dir, "migrations");
  cpSync(MIGRATIONS, migrations, { recursive: true });
  const journalPath = join(migrations, "meta", "_journal.json");
  const journal = JSON.parse(readFileSync(journalPath, "utf8")) as { entries: { tag: string }[] };
  journal.entries = journal.entries.slice(0, journal.entries.findIndex((e) => e.tag === "0005_safety"));
  writeFileSync(journalPath, JSON.stringify(journal));

  const path = join(dir, "msgr.db");
  const old = new Database(path, { create: true, strict: true });
  migrate(drizzle({ client: old }), { migrationsFolder: migrations });
  for (const statement of SAFETY_BACKFILL_FIXTURE) old.run(statement);
  old.close();

  const backend = openSqlite({ path, synchronous: "normal" });
  try {
    await expectSafetyBackfilled(backend.safety);
  } finally {
    await backend.close();
  }
});
