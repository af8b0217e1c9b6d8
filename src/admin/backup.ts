// POST /v1/admin/backup: a consistent copy of the embedded database, sent as the response body.
// Taken by the server, which has the database open: its checkpoint thread writes the copy (VACUUM
// INTO, one read transaction, beside the writes), so the caller needs neither the data directory
// nor SQLite, only the API; into the data directory (the same disk, as large as the database), and the
// file is removed as soon as it is open, so that it lives only as long as its response. One copy
// at a time: each takes the database's size on disk and the checkpoint thread's time until its
// response is sent. `msgr backup` (src/cli/backup.ts) checks the copy and adds the keys and media.

import { randomBytes } from "node:crypto";
import { open, readdir, unlink } from "node:fs/promises";
import { join } from "node:path";
import type { Snapshot } from "../storage/types.ts";

/** Copies in the data directory are named so; one left there was left by a crash, and is removed. */
const PREFIX = ".backup-";
/** Read and sent this much at a time. */
const CHUNK = 1 << 20;
/** The data directories whose copy is being written or sent (one server per data directory: owner-lock.ts). */
const busy = new Set<string>();

export interface DatabaseCopy {
  bytes: number;
  stream: ReadableStream<Uint8Array>;
}

/** A copy of the database to send; null while another one is being written or sent. */
export async function copyDatabase(snapshot: Snapshot, dataDir: string): Promise<DatabaseCopy | null> {
  if (busy.has(dataDir)) return null;
  busy.add(dataDir);
  let file: Awaited<ReturnType<typeof open>> | undefined;
  let size: number;
  try {
    for (const old of await readdir(dataDir)) if (old.startsWith(PREFIX)) await unlink(join(dataDir, old)).catch(() => {});
    const path = join(dataDir, `${PREFIX}${randomBytes(8).toString("hex")}.db`);
    try {
      await snapshot(path);
      file = await open(path, "r");
    } finally {
      // Open or not, the name goes: an open file stays readable until it is closed.
      await unlink(path).catch(() => {});
    }
    ({ size } = await file.stat());
  } catch (err) {
    await file?.close();
    busy.delete(dataDir);
    throw err;
  }
  const copy = file;
  const done = async () => {
    busy.delete(dataDir);
    await copy.close();
  };
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const chunk = new Uint8Array(CHUNK);
      const { bytesRead } = await copy.read(chunk, 0, CHUNK, null);
      if (bytesRead > 0) return controller.enqueue(chunk.subarray(0, bytesRead));
      await done();
      controller.close();
    },
    cancel: done,
  });
  return { bytes: size, stream };
}
