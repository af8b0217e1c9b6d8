// Every connection to the embedded database file opens it here: the server's, the checkpoint
// thread's (checkpoint-worker.ts), and readers in tests and the bench.
//
// Tried and not kept: SQLite's unix-excl VFS (3fc8ce3), which takes the file's lock once instead
// of fcntl locks at every transaction, and keeps the WAL index in the process's memory instead
// of the -shm file. It cut the server's syscalls in the 1:1 bench's open loop by a third (fcntl
// 104k -> 0 in 2 s), but not its CPU: against the default VFS in the same runs, round by round
// (`bun bench/run.ts direct --peers msgr,msgr@46b7acf`, bench/README.md), its closed loop's CPU
// per message was 1.028x the default's (median of 30 rounds' ratios, lower in 12) and 0.944x (20
// rounds, lower in 15), its open loop's 0.993x and the open loop's p99 0.971x (20 rounds at 20k
// msg/s, lower in 11 each). What it cost: no other process could open the database while the
// server had it, not even the sqlite3 shell to read it.

import { Database } from "bun:sqlite";

/** A connection to the database file at `path`: "create" to write (creating the file when missing), "readonly" to read. */
export function openDatabaseFile(path: string, mode: "create" | "readonly"): Database {
  return new Database(path, mode === "create" ? { create: true, strict: true } : { readonly: true, strict: true });
}
