// The checkpointer's thread (checkpointer.ts): a connection of its own to the database, which
// copies the WAL's pages into the database file with PASSIVE checkpoints when asked. They never
// wait for, nor block, the server's connection, which keeps writing meanwhile.

import { Database } from "bun:sqlite";
import { readlinkSync } from "node:fs";
import { getPriority, setPriority } from "node:os";
import { CHECKPOINT_NICE, type CheckpointReply, type CheckpointRequest } from "./checkpointer.ts";
import { OpenFileSync } from "./file-sync.ts";

declare const self: Worker;

/** Lowers this thread's priority by CHECKPOINT_NICE (checkpointer.ts), on Linux. */
function yieldToServer(): void {
  if (process.platform !== "linux") return;
  try {
    // setpriority on a thread id changes that thread alone (Linux); /proc/thread-self names it.
    const tid = Number(readlinkSync("/proc/thread-self").split("/").pop());
    setPriority(tid, Math.min(19, getPriority(tid) + CHECKPOINT_NICE));
  } catch {
    // Not allowed, or no /proc: the thread checkpoints at the server's priority, as it did before.
  }
}

let db: Database | null = null;
/** The database file, synced after each checkpoint. */
let file: OpenFileSync | null = null;

self.onmessage = (e: MessageEvent<CheckpointRequest>) => {
  const m = e.data;
  let reply: CheckpointReply;
  try {
    if (m.t === "open") {
      yieldToServer();
      db = new Database(m.path);
      db.run("PRAGMA busy_timeout = 5000");
      // A checkpoint syncs the files as its connection's setting says: the server's own.
      db.run(`PRAGMA synchronous = ${m.synchronous === "full" ? "FULL" : "NORMAL"}`);
      file = new OpenFileSync(m.path);
      reply = { t: "ok" };
    } else if (m.t === "checkpoint") {
      const r = db!.query<{ log: number; checkpointed: number }, []>("PRAGMA wal_checkpoint(PASSIVE)").get()!;
      // SQLite syncs the database file only after a checkpoint that reached the WAL's end, which
      // under load is the server connection's (checkpointer.ts): synced here, off its thread.
      const synced = file?.sync() ?? false;
      reply = { t: "ok", log: r.log, checkpointed: r.checkpointed, synced };
    } else {
      db?.close();
      db = null;
      file = null;
      reply = { t: "ok" };
    }
  } catch (err) {
    reply = { t: "failed", message: (err as Error).message };
  }
  postMessage(reply);
};
