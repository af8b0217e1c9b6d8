// The embedded store's WAL is copied into the database file by a thread of its own
// (src/storage/sqlite/checkpointer.ts) once it holds CHECKPOINT_PAGES pages not yet copied, not
// inside the server connection's commits (which checkpoint only past CHECKPOINT_FALLBACK_PAGES).

import { Database } from "bun:sqlite";
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { getPriority, tmpdir } from "node:os";
import { join } from "node:path";
import { CHECKPOINT_FALLBACK_PAGES, CHECKPOINT_NICE, CHECKPOINT_PAGES, Checkpointer } from "../../src/storage/sqlite/checkpointer.ts";
import { openSqlite, walState, type SqliteBackend } from "../../src/storage/sqlite/db.ts";
import { until } from "../helpers/wait.ts";

const dir = mkdtempSync(join(tmpdir(), "msgr-sqlite-checkpointer-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let next = 0;
/** Appends `n` messages with 1 KiB bodies over 10 conversations, in one commit. */
async function append(store: SqliteBackend, n: number): Promise<void> {
  await Promise.all(
    Array.from({ length: n }, () => {
      const i = next++;
      return store.messages.append({ conv: `c${i % 10}`, id: BigInt(i + 1), from: "alice", dev: "phone", cid: `cid-${i}`, kind: 1, body: new Uint8Array(1024).fill(i & 0xff), ts: 1000 + i });
    }),
  );
}

test("once the WAL holds CHECKPOINT_PAGES pages the thread copies them into the database file, and not before", async () => {
  const path = join(dir, "threshold.db");
  const store = openSqlite({ path, synchronous: "normal" });
  // A second connection reads the WAL's state from the WAL index the store's shares.
  const reader = new Database(path, { readonly: true });
  const wal = walState(reader);
  try {
    const size = statSync(path).size;
    // Below the threshold nothing is copied: the database file keeps its size.
    while (wal().frames < CHECKPOINT_PAGES / 2) await append(store, 20);
    expect(statSync(path).size).toBe(size);
    // Past it, the thread copies the WAL: the file grows, with the WAL far below the fallback.
    // The WAL is looked at every few commits: a few more pass the threshold for sure.
    while (wal().frames < CHECKPOINT_PAGES) await append(store, 20);
    for (let i = 0; i < 4; i++) await append(store, 1);
    const past = wal().frames;
    expect(past).toBeLessThan(CHECKPOINT_FALLBACK_PAGES);
    await until(() => statSync(path).size > size, 10_000, "the thread to copy the WAL into the database file");
    // The WAL index shows the pages copied, or the WAL already started over: the store's next
    // commit (its message_index entries, 25 ms after the appends) restarts a WAL whose every page
    // was copied, and that happens only after a complete checkpoint.
    await until(
      () => {
        const w = wal();
        return w.copied > 0 || w.frames < past;
      },
      10_000,
      "the WAL index to show the pages copied",
    );
  } finally {
    reader.close();
    await store.close();
  }
});

test("a WAL whose state cannot be read is reported once, and commits go on (the server's connection checkpoints by itself)", async () => {
  const path = join(dir, "blind.db");
  const store = openSqlite({ path, synchronous: "normal" });
  const warnings: string[] = [];
  const unreadable = () => {
    throw new Error("no WAL here");
  };
  const checkpointer = new Checkpointer(path, "normal", unreadable, (m) => warnings.push(m));
  try {
    for (let i = 0; i < 20; i++) checkpointer.committed();
    expect(warnings).toEqual([expect.stringContaining("cannot read the WAL's state (no WAL here)")]);
  } finally {
    await checkpointer.close();
    await store.close();
  }
});

test("asked, the thread checkpoints at once, reports the WAL copied and syncs the database file", async () => {
  const path = join(dir, "asked.db");
  const store = openSqlite({ path, synchronous: "normal" });
  try {
    await append(store, 20);
    const r = await store.checkpointer!.checkpoint();
    expect(r.log).toBeGreaterThan(0);
    expect(r.checkpointed).toBe(r.log);
    // Through a descriptor SQLite holds (file-sync.ts), which exists on Linux only.
    expect(r.synced).toBe(process.platform === "linux");
  } finally {
    await store.close();
  }
});

test("another process can read the database while the store has it open (the sqlite3 shell, a replication tool)", async () => {
  const path = join(dir, "shared.db");
  const store = openSqlite({ path, synchronous: "normal" });
  const read = async () => {
    const proc = Bun.spawn([process.execPath, "-e", `console.log(new (require("bun:sqlite").Database)(${JSON.stringify(path)}, { readonly: true }).query("SELECT count(*) AS n FROM messages").get().n)`], { stdout: "pipe", stderr: "pipe" });
    return { code: await proc.exited, out: (await new Response(proc.stdout).text()).trim(), stderr: await new Response(proc.stderr).text() };
  };
  try {
    await append(store, 5);
    expect(await read()).toEqual({ code: 0, out: "5", stderr: "" });
  } finally {
    await store.close();
  }
});

test("close ends the thread after its connection closed; what was written is all there after", async () => {
  const path = join(dir, "close.db");
  const store = openSqlite({ path, synchronous: "full" });
  await append(store, 50);
  await store.close();
  await expect(store.checkpointer!.checkpoint()).rejects.toThrow("SQLite checkpoint thread");
  const db = new Database(path, { readonly: true });
  expect(db.query<{ n: number }, []>("SELECT count(*) AS n FROM messages").get()!.n).toBe(50);
  db.close();
});

test("an in-memory database has no WAL and no thread", async () => {
  const store = openSqlite({ path: ":memory:", synchronous: "normal" });
  expect(store.checkpointer).toBeNull();
  await store.close();
});

/** This process's threads: thread id -> nice value (field 19 of /proc/self/task/<tid>/stat). */
function threadNices(): Map<string, number> {
  return new Map(readdirSync("/proc/self/task").map((tid) => [tid, Number(readFileSync(`/proc/self/task/${tid}/stat`, "utf8").split(") ")[1]!.split(" ")[16])]));
}

test.skipIf(process.platform !== "linux")("the thread runs CHECKPOINT_NICE nicer than the process, which keeps its own priority", async () => {
  const own = getPriority();
  const before = threadNices();
  const store = openSqlite({ path: join(dir, "nice.db"), synchronous: "normal" });
  try {
    // Answered after the thread's open, which lowers its priority first.
    await store.checkpointer!.checkpoint();
    // Threads that came with the store (the worker's, and any helper of its own): one is nicer.
    const started = [...threadNices()].filter(([tid]) => !before.has(tid)).map(([, nice]) => nice);
    expect(started).toContain(Math.min(19, own + CHECKPOINT_NICE));
    expect(getPriority()).toBe(own);
    expect(threadNices().get(String(process.pid))).toBe(own);
  } finally {
    await store.close();
  }
});
