// WAL checkpoints on a thread of their own. By SQLite's default, the connection whose commit takes
// the WAL past 1,000 pages copies them into the database file inside that commit and syncs both
// files: on the server's one connection that stalled the event loop, and every message in flight
// with it, for the whole checkpoint (about 10 ms for 1,350 pages here, nearly all of it the syncs).
//
// Here the same threshold is kept, so the same pages are copied as often as before, but by a
// worker thread with a connection of its own (checkpoint-worker.ts), in PASSIVE checkpoints that
// never block the server's writes. SQLite tells no other connection that the WAL grew, so the
// writers that commit often (messages, receipts' cursors, connections' registrations) call
// committed() after each commit, and every CHECK_EVERY commits this asks the server's connection
// how far the WAL runs past what was copied (`PRAGMA wal_checkpoint(NOOP)`, SQLite 3.51+: it copies
// nothing and reads the WAL index from the -shm file's mapping, taking no file lock; about 0.8 µs
// here). What a commit writes, and what a crash keeps, are the same.
//
// The WAL starts over (from its first page) only at a commit that follows a checkpoint which
// copied all of it. Under a steady load the thread's never do: commits come in while they copy.
// So the server's connection still checkpoints by itself past CHECKPOINT_FALLBACK_PAGES (as it
// would should the thread stop or fall behind): it copies the last pages and syncs the database
// file. SQLite syncs that file only after a checkpoint that reached the WAL's end, so every page
// the thread had copied since the last time was synced there, on the event loop: the thread now
// syncs the file after each of its checkpoints (file-sync.ts). In the 1:1 bench's open loop at
// 30k msg/s, the longest message commit of a run (the fallback runs inside one) went from 15-26 ms
// to 8-13 ms (six runs of each build, alternating), and the server thread's fsync of the database
// file in it from 14-21 ms to 1-3 ms.

import type { SqliteOptions } from "./db.ts";

/** The thread checkpoints once the WAL holds this many pages not yet copied (SQLite's own default). */
export const CHECKPOINT_PAGES = 1_000;
/** The WAL is looked at after this many commits: a commit writes a few pages, so the threshold is passed by a few at most. */
const CHECK_EVERY = 4;
/** The server's connection checkpoints by itself past this many WAL pages. */
export const CHECKPOINT_FALLBACK_PAGES = 16_000;
/**
 * The thread runs this much nicer than the process (Linux, where each thread has its own nice
 * value; capped at 19). At the server's priority, on a machine whose cores are busy, a checkpoint
 * took the event loop's core for whole scheduler slices, and every message waiting in the loop
 * waited with it: the open loop at 30k msg/s on 2 cores had p50 2.2–3.9 ms, p99 17–74 ms, and
 * 1.7–2.1 / 16–19 ms with the thread at +10 (three alternating pairs). A thread that falls behind
 * lets the WAL grow, up to CHECKPOINT_FALLBACK_PAGES, where the server's connection checkpoints
 * by itself: the worst case is what happened before the thread.
 */
export const CHECKPOINT_NICE = 10;

export type CheckpointRequest = { t: "open"; path: string; synchronous: SqliteOptions["synchronous"] } | { t: "checkpoint" } | { t: "close" };
/** The answer to each request, in order. */
export type CheckpointReply = { t: "ok"; log?: number; checkpointed?: number; synced?: boolean } | { t: "failed"; message: string };

/** The WAL's length in pages and how many of them are in the database file. */
export interface WalState {
  frames: number;
  copied: number;
}

export class Checkpointer {
  readonly #worker = new Worker(new URL("./checkpoint-worker.ts", import.meta.url));
  /** The requests sent and not yet answered, oldest first (the worker answers in order). */
  readonly #pending: ((r: CheckpointReply) => void)[] = [];
  #sinceCheck = 0;
  /** The WAL's state could not be read: the server's connection checkpoints (past the fallback). */
  #blind = false;
  #checkpointing = false;
  #closed: Promise<void> | null = null;

  /** Starts the thread on the database at `path` (in WAL mode); `wal` reads the WAL's state on the server's connection; `warn` hears what it could not do. */
  constructor(
    path: string,
    synchronous: SqliteOptions["synchronous"],
    private readonly wal: () => WalState,
    private readonly warn: (message: string) => void,
  ) {
    this.#worker.onmessage = (e: MessageEvent<CheckpointReply>) => {
      const r = e.data;
      if (r.t === "failed") warn(`SQLite checkpoint thread: ${r.message}`);
      this.#pending.shift()?.(r);
      // The process's exit waits for the thread only while a request awaits its answer.
      if (this.#pending.length === 0) this.#worker.unref();
    };
    // A thread that died answers nothing more: what waits on it fails rather than hangs.
    this.#worker.addEventListener("error", (e) => warn(`SQLite checkpoint thread: ${e.message}`));
    this.#worker.addEventListener("close", () => {
      for (const answer of this.#pending.splice(0)) answer({ t: "failed", message: "the thread ended" });
    });
    void this.#ask({ t: "open", path, synchronous });
  }

  /** After a commit: starts a checkpoint on the thread when the WAL has run CHECKPOINT_PAGES past the last one. */
  committed(): void {
    if (this.#checkpointing || this.#closed || this.#blind || ++this.#sinceCheck < CHECK_EVERY) return;
    this.#sinceCheck = 0;
    let wal: WalState;
    try {
      wal = this.wal();
    } catch (err) {
      this.#blind = true;
      this.warn(`SQLite checkpoint thread: cannot read the WAL's state (${(err as Error).message}); checkpoints fall back to the server's connection, past ${CHECKPOINT_FALLBACK_PAGES} pages`);
      return;
    }
    if (wal.frames - wal.copied < CHECKPOINT_PAGES) return;
    this.#checkpointing = true;
    void this.checkpoint().then(
      () => (this.#checkpointing = false),
      () => (this.#checkpointing = false),
    );
  }

  /** Checkpoints now: the WAL's pages, how many of them are in the database file after, and whether the thread synced that file (file-sync.ts: Linux). */
  async checkpoint(): Promise<{ log: number; checkpointed: number; synced: boolean }> {
    const r = await this.#ask({ t: "checkpoint" });
    if (r.t === "failed") throw new Error(`SQLite checkpoint thread: ${r.message}`);
    return { log: r.log ?? 0, checkpointed: r.checkpointed ?? 0, synced: r.synced === true };
  }

  /** Closes the thread's connection, then ends the thread. */
  close(): Promise<void> {
    this.#closed ??= this.#ask({ t: "close" }).then(() => this.#worker.terminate());
    return this.#closed;
  }

  #ask(m: CheckpointRequest): Promise<CheckpointReply> {
    return new Promise((answer) => {
      this.#pending.push(answer);
      this.#worker.ref();
      this.#worker.postMessage(m);
    });
  }
}
