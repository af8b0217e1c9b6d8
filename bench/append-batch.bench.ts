// What a message costs the embedded store to append, by the size of the group commit it joins and
// by how many of the commit's messages share a conversation. The store commits once per turn of
// the event loop whatever a turn brings, and in WAL mode each commit writes every page it changed
// whole: the table's end, and the (conv_id, seq) index's leaf of each conversation it touched.
// A file-backed store (synchronous = normal, as the bench's servers run), messages of 100-byte
// bodies over 50 conversations; per message: process CPU (user + system; the checkpoint thread's
// included) and WAL pages written, medians of the rounds.
// Run: bun bench/append-batch.bench.ts [--rounds 3]

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Database } from "bun:sqlite";
import { openSqlite, walState } from "../src/storage/sqlite/db.ts";

const { values } = parseArgs({ options: { rounds: { type: "string", default: "3" } } });
const ROUNDS = Number(values.rounds);
const BATCHES = [1, 5, 20, 100, 500];
/** Messages of one conversation in one commit: each to its own, or a few (a sender with several in flight). */
const PER_CONVERSATION = [1, 4];
const CONVERSATIONS = 50;
const WARM_UP = 20_000;
const MEASURED = 60_000;

const body = new Uint8Array(100);
const convs = Array.from({ length: CONVERSATIONS }, (_, i) => `d:u${String(i).padStart(5, "0")}:u${String(i + CONVERSATIONS).padStart(5, "0")}`);

interface Cost {
  cpu: number;
  pages: number;
}

async function round(batch: number, perConversation: number): Promise<Cost> {
  const dir = mkdtempSync(join(tmpdir(), "msgr-append-bench-"));
  const path = join(dir, "msgr.db");
  const store = openSqlite({ path, synchronous: "normal" });
  // A second connection reads the WAL's state (the store's own is not exposed).
  const reader = new Database(path, { readonly: true });
  const wal = walState(reader);
  const walFrames = () => wal().frames;
  let id = 1n;
  let n = 0;
  let commits = 0;
  let pages = 0;
  // One batch per turn: the appends of a batch are issued together and the store commits them at once.
  const appendAll = async (count: number) => {
    for (let i = 0; i < count; i += batch, commits++) {
      const appends = [];
      for (let k = 0; k < batch; k++, n++) {
        const conv = convs[(commits * 7 + Math.floor(k / perConversation)) % CONVERSATIONS]!;
        appends.push(store.messages.append({ conv, id: id++, from: conv.slice(2, 8), dev: "phone", cid: `c${n}`, kind: 1, body, ts: Date.now() }));
      }
      const before = walFrames();
      await Promise.all(appends);
      // A checkpoint that restarted the WAL in between makes it shorter: that commit is not counted.
      pages += Math.max(0, walFrames() - before);
    }
  };
  try {
    await appendAll(WARM_UP);
    pages = 0;
    const before = process.cpuUsage();
    await appendAll(MEASURED);
    const used = process.cpuUsage(before);
    return { cpu: (used.user + used.system) / MEASURED, pages: pages / MEASURED };
  } finally {
    reader.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
console.log(`append bench, bun ${Bun.version}, SQLite file (synchronous = normal), ${CONVERSATIONS} conversations, ${MEASURED.toLocaleString("en-US")} appends x ${ROUNDS} rounds, medians per message`);
console.log(`messages per commit | ${PER_CONVERSATION.map((k) => `${k} per conversation: CPU µs, WAL pages`).join(" | ")}`);
for (const batch of BATCHES) {
  const cells: string[] = [];
  for (const k of PER_CONVERSATION) {
    const rounds: Cost[] = [];
    for (let r = 0; r < ROUNDS; r++) rounds.push(await round(batch, Math.min(k, batch)));
    cells.push(`${median(rounds.map((c) => c.cpu)).toFixed(1).padStart(5)} µs, ${median(rounds.map((c) => c.pages)).toFixed(2)} pages`);
  }
  console.log(`${String(batch).padStart(19)} | ${cells.join(" | ")}`);
}
