// A SQLite database as a server of an earlier release left it: migrated up to, not including, one
// migration, so that a test can insert that release's rows and then open it with openSqlite.

import { Database } from "bun:sqlite";
import { cpSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { drizzle } from "drizzle-orm/bun-sqlite";
import { migrate } from "drizzle-orm/bun-sqlite/migrator";

const MIGRATIONS = join(import.meta.dir, "../../src/storage/sqlite/migrations");

/** Creates `<dir>/msgr.db` at the schema before migration `tag`, runs `rows` in it, and returns its path. */
export function sqliteDatabaseBefore(dir: string, tag: string, rows: readonly string[]): string {
  const migrations = join(dir, "migrations");
  cpSync(MIGRATIONS, migrations, { recursive: true });
  const journalPath = join(migrations, "meta", "_journal.json");
  const journal = JSON.parse(readFileSync(journalPath, "utf8")) as { entries: { tag: string }[] };
  const at = journal.entries.findIndex((e) => e.tag === tag);
  if (at < 0) throw new Error(`no migration ${tag}`);
  journal.entries = journal.entries.slice(0, at);
  writeFileSync(journalPath, JSON.stringify(journal));

  const path = join(dir, "msgr.db");
  const old = new Database(path, { create: true, strict: true });
  try {
    migrate(drizzle({ client: old }), { migrationsFolder: migrations });
    for (const statement of rows) old.run(statement);
  } finally {
    old.close();
  }
  return path;
}
