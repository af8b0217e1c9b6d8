// POST /v1/admin/backup: a consistent copy of the embedded database, sent as the response body.
// The server holds its database file exclusively (storage/sqlite/open-file.ts), so a backup is
// taken by the server: its checkpoint thread writes the copy (VACUUM INTO, one read transaction,
// beside the writes), into the data directory (the same disk, as large as the database), and the
// file is removed as soon as it is open, so that it lives only as long as its response. `msgr
// backup` (src/cli/backup.ts) checks the copy and adds the keys and media files.

import { randomBytes } from "node:crypto";
import { open, readdir, unlink } from "node:fs/promises";
import { join } from "node:path";
import type { Snapshot } from "../storage/types.ts";

/** Copies in the data directory are named so; one left there was left by a crash, and is removed. */
const PREFIX = ".backup-";
/** Read and sent this much at a time. */
const CHUNK = 1 << 20;
/** The copies being written now, by name. */
const writing = new Set<string>();

export interface DatabaseCopy {
  bytes: number;
  stream: ReadableStream<Uint8Array>;
}

export async function copyDatabase(snapshot: Snapshot, dataDir: string): Promise<DatabaseCopy> {
  for (const old of await readdir(dataDir)) {
    if (old.startsWith(PREFIX) && !writing.has(old)) await unlink(join(dataDir, old)).catch(() => {});
  }
  const name = `${PREFIX}${randomBytes(8).toString("hex")}.db`;
  const path = join(dataDir, name);
  writing.add(name);
  let file: Awaited<ReturnType<typeof open>>;
  try {
    await snapshot(path);
    file = await open(path, "r");
  } finally {
    // Open or not, the name goes: an open file stays readable until it is closed.
    await unlink(path).catch(() => {});
    writing.delete(name);
  }
  const { size } = await file.stat();
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const chunk = new Uint8Array(CHUNK);
      const { bytesRead } = await file.read(chunk, 0, CHUNK, null);
      if (bytesRead > 0) return controller.enqueue(chunk.subarray(0, bytesRead));
      await file.close();
      controller.close();
    },
    async cancel() {
      await file.close();
    },
  });
  return { bytes: size, stream };
}
