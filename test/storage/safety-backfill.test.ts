// A database from before the safety tables: after migrating, users who had authenticated are
// registered (from their first device), and a member is in a conversation by choice when they
// created or opened it, or wrote in it. SQLite here; test/contract/postgres.test.ts runs the
// same on PostgreSQL.

import { afterAll, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openSqlite } from "../../src/storage/sqlite/db.ts";
import { expectSafetyBackfilled, SAFETY_BACKFILL_FIXTURE } from "./safety-backfill-fixture.ts";
import { sqliteDatabaseBefore } from "./sqlite-migrations.ts";

const dir = mkdtempSync(join(tmpdir(), "msgr-safety-backfill-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("users are registered from their devices, and creators, openers and writers are members by choice", async () => {
  const backend = openSqlite({ path: sqliteDatabaseBefore(dir, "0005_safety", SAFETY_BACKFILL_FIXTURE), synchronous: "normal" });
  try {
    await expectSafetyBackfilled(backend.safety);
  } finally {
    await backend.close();
  }
});
