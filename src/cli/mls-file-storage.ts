// The terminal client's MlsStorage: one file per key in a directory private to the user running
// it (0700, files 0600), since what is stored is the device's secrets (its signature key,
// KeyPackage private keys, every group's epoch secrets). A write lands in a temporary file that
// is synced, then renamed over the old one: a crash leaves the old value or the new, never half of
// one, because a device that loses its group state loses its groups.

import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import type { MlsStorage } from "../sdk/e2ee.ts";

/** Keys become file names in hex, so "/" and ".." in a key cannot leave the directory. */
const fileOf = (key: string) => "k" + Buffer.from(key).toString("hex");
const keyOf = (file: string) => Buffer.from(file.slice(1), "hex").toString();

export class FileMlsStorage implements MlsStorage {
  constructor(private readonly dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  async get(key: string): Promise<Uint8Array | null> {
    try {
      return new Uint8Array(readFileSync(join(this.dir, fileOf(key))));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw e;
    }
  }

  async put(key: string, value: Uint8Array): Promise<void> {
    const path = join(this.dir, fileOf(key));
    const tmp = `${path}.tmp`;
    const fd = openSync(tmp, "w", 0o600);
    try {
      writeSync(fd, value);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  }

  async delete(key: string): Promise<void> {
    rmSync(join(this.dir, fileOf(key)), { force: true });
  }

  async keys(prefix: string): Promise<string[]> {
    return readdirSync(this.dir)
      .filter((f) => /^k[0-9a-f]*$/.test(f))
      .map(keyOf)
      .filter((k) => k.startsWith(prefix));
  }
}
