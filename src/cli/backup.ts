// `msgr backup --out DIR`: an online backup of the embedded data while the server runs.
//
// The database is copied with SQLite's VACUUM INTO from a read-only connection of its own: one
// read transaction, so the copy is a consistent snapshot (every message acknowledged before the
// backup began is in it, with its receipts), and in WAL mode it blocks no writer. The copy is
// compact and checked (PRAGMA integrity_check). The signing keys (jwks.json), the VAPID keys, the
// media URL secret and the local media files go along, so the output directory is itself a data
// directory: restoring is pointing server.dataDir at it (or copying its contents into an empty one).

import { Database } from "bun:sqlite";
import { cpSync, existsSync, mkdirSync, readdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Config } from "../config/config.ts";
import { localMediaDir } from "../media/open.ts";

export interface BackupSummary {
  dir: string;
  databaseBytes: number;
  messages: number;
  conversations: number;
  /** Other files copied: keys, media. */
  files: string[];
}

/** Files of the data directory that belong in a backup besides the database. */
const KEY_FILES = ["jwks.json", "vapid.json", "media.key"];

export function backupEmbedded(config: Config, outDir: string): BackupSummary {
  const { backends } = config;
  if (backends.messages !== "sqlite" || backends.metadata !== "sqlite") {
    throw new Error(
      `backup copies the embedded SQLite data; this config keeps messages in ${backends.messages} and metadata in ${backends.metadata}: back those up with their own tools (pg_dump, nodetool snapshot, JetStream stream backups)`,
    );
  }
  const dataDir = resolve(config.server.dataDir);
  const source = join(dataDir, "msgr.db");
  if (!existsSync(source)) throw new Error(`no database at ${source}: is server.dataDir (${dataDir}) the server's data directory?`);
  const dir = resolve(outDir);
  if (dir === dataDir) throw new Error("--out must not be the data directory itself");
  if (existsSync(dir) && readdirSync(dir).length > 0) throw new Error(`${dir} is not empty: back up into a new directory`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });

  const target = join(dir, "msgr.db");
  const db = new Database(source, { readonly: true });
  try {
    // The server may hold the write lock for a commit: wait for it rather than fail.
    db.run("PRAGMA busy_timeout = 10000");
    db.run("VACUUM INTO ?", [target]);
  } finally {
    db.close();
  }

  const copy = new Database(target);
  let counts: { messages: number; conversations: number };
  try {
    const check = copy.query("PRAGMA integrity_check").get() as { integrity_check: string };
    if (check.integrity_check !== "ok") throw new Error(`the copy failed its integrity check: ${check.integrity_check}`);
    // VACUUM INTO writes a rollback-journal database; the server opens it in WAL mode itself.
    counts = copy.query("SELECT (SELECT count(*) FROM messages) AS messages, (SELECT count(*) FROM conversations) AS conversations").get() as typeof counts;
  } finally {
    copy.close();
  }

  const files: string[] = [];
  for (const name of KEY_FILES) {
    if (!existsSync(join(dataDir, name))) continue;
    cpSync(join(dataDir, name), join(dir, name), { preserveTimestamps: true });
    files.push(name);
  }
  // Media files are written once and never changed, so copying them while the server runs is safe;
  // an upload still in progress may be missing, as it would be from any snapshot taken then.
  const media = localMediaDir(config);
  if (config.media.store === "local" && existsSync(media)) {
    cpSync(media, join(dir, "media"), { recursive: true, preserveTimestamps: true });
    files.push("media/");
  }
  return { dir, databaseBytes: statSync(target).size, ...counts, files };
}
