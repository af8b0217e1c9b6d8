// One process owns an embedded database at a time. Its message store keeps what it has not yet
// indexed in memory (message-store.ts: message_index) and each conversation's last seq, so a
// second process writing the same file (a second server on the same data directory, `msgr
// migrate` while the server runs) would assign seqs the first one also assigns, or index its
// rows under it. The lock is a SQLite file beside the database, held in an exclusive transaction
// for as long as the process keeps it open: the operating system drops it when the process ends,
// however it ends, so a crash leaves nothing to clean up.

import { Database } from "bun:sqlite";

export class DatabaseInUse extends Error {}

/** Takes the lock for the database at `path`; throws DatabaseInUse when another process (or connection) holds it. */
export function lockDatabase(path: string): { release(): void } {
  const lock = new Database(`${path}-owner`, { create: true });
  try {
    lock.run("PRAGMA locking_mode = EXCLUSIVE");
    lock.run("BEGIN EXCLUSIVE");
  } catch (err) {
    lock.close();
    if ((err as { code?: string }).code === "SQLITE_BUSY") {
      throw new DatabaseInUse(`${path} is in use by another msgr process (a server on the same data directory, or a command such as migrate while the server runs): stop it first`);
    }
    throw err;
  }
  return { release: () => lock.close() };
}
