// Every connection to the embedded database file opens it through SQLite's unix-excl VFS. With
// the default VFS each transaction takes and drops POSIX locks on the database and its -shm file
// (fcntl calls: about 3 µs of every commit here, and a commit is made per loop turn), and reads
// the WAL index through a shared mapping. unix-excl takes the file's lock once and keeps the WAL
// index in this process's memory, shared by its connections (the server's and the checkpoint
// thread's): in the 1:1 bench's open loop the server's syscalls fell by a third (fcntl 91k -> 0
// in 2 s) and its CPU per message by about 6%.
//
// What it costs: no other process can open the database while one has it open, not even to read
// (the owner lock, owner-lock.ts, already refuses a second writer), so an online backup is taken
// by the server itself (backup.ts), and inspecting a live database with the sqlite3 shell means
// `msgr backup` first. Bun opens a URI filename only when given the open flags as a number, which
// leaves out its `strict` option: every statement here binds positional parameters, where strict
// changes nothing but the error for a missing one.

import { Database } from "bun:sqlite";

const OPEN_READONLY = 0x1;
const OPEN_READWRITE = 0x2;
const OPEN_CREATE = 0x4;
const OPEN_URI = 0x40;

/** `path` as a SQLite URI on the unix-excl VFS (https://www.sqlite.org/uri.html: %, ? and # escaped). */
function excl(path: string): string {
  return `file:${path.replace(/[%?#]/g, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, "0")}`)}?vfs=unix-excl`;
}

/** A connection to the database file at `path`: "create" to write (creating the file when missing), "readonly" to read. */
export function openDatabaseFile(path: string, mode: "create" | "readonly"): Database {
  return new Database(excl(path), OPEN_URI | (mode === "create" ? OPEN_READWRITE | OPEN_CREATE : OPEN_READONLY));
}
