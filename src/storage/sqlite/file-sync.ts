// fdatasync of a database file that SQLite holds open, without a descriptor of our own: closing
// one would release every POSIX lock this process holds on the file, the server connection's
// included, and another process closing the database would then take itself for its last user
// and delete the WAL. So a descriptor SQLite opened is found in /proc/self/fd (Linux; elsewhere
// there is none to use and nothing is synced) and checked to be the file before each use, since
// its number is reused once SQLite closes it.

import { fdatasyncSync, fstatSync, readdirSync, statSync } from "node:fs";

export class OpenFileSync {
  readonly #dev: number;
  readonly #ino: number;
  #fd: number | null = null;

  /** For the file at `path`, which must exist. */
  constructor(path: string) {
    const st = statSync(path);
    this.#dev = st.dev;
    this.#ino = st.ino;
  }

  /** Syncs the file's data; false when no descriptor of it is open in this process. */
  sync(): boolean {
    const fd = this.descriptor();
    if (fd === null) return false;
    fdatasyncSync(fd);
    return true;
  }

  /** An open descriptor of the file, or null. */
  descriptor(): number | null {
    if (this.#fd !== null && this.#is(this.#fd)) return this.#fd;
    this.#fd = null;
    let fds: string[];
    try {
      fds = readdirSync("/proc/self/fd");
    } catch {
      return null;
    }
    for (const name of fds) {
      const fd = Number(name);
      if (this.#is(fd)) return (this.#fd = fd);
    }
    return null;
  }

  #is(fd: number): boolean {
    try {
      const st = fstatSync(fd);
      return st.dev === this.#dev && st.ino === this.#ino;
    } catch {
      return false;
    }
  }
}
