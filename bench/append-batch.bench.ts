// What a message costs the embedded store to append, by the size of the group commit it joins.
// The store commits once per turn of the event loop whatever a turn brings (1:1 closed loop: about
// 20 messages over 50 conversations), and in WAL mode each commit writes every page it changed
// whole: with messages clustered by conversation, one leaf page (4 KiB, two write calls) per
// conversation the commit touches. This measures that amplification: a file-backed store
// (synchronous = normal, as the bench's servers run), messages of 100-byte bodies spread over 50
// conversations, appended in commits of each size; process CPU (user, system) per message, medians
// of the rounds. The checkpoint thread's CPU is the process's too.
// Run: bun bench/append-batch.bench.ts [--rounds 3]

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { openSqlite } from "../src/storage/sqlite/db.ts";

const { values } = parseArgs({ options: { rounds: { type: "string", default: "3" } } });
const ROUNDS = Number(values.rounds);
const BATCHES = [1, 5, 20, 100, 500];
const CONVERSATIONS = 50;
const WARM_UP = 20_000;
const MEASURED = 60_000;

const body = new Uint8Array(100);
const convs = Array.from({ length: CONVERSATIONS }, (_, i) => `d:u${String(i).padStart(5, "0")}:u${String(i + CONVERSATIONS).padStart(5, "0")}`);

async function round(batch: number): Promise<{ user: number; system: number }> {
  const dir = mkdtempSync(join(tmpdir(), "msgr-append-bench-"));
  const store = openSqlite({ path: join(dir, "msgr.db"), synchronous: "normal" });
  let id = 1n;
  let n = 0;
  // One batch per turn: the appends of a batch are issued together and the store commits them at once.
  const appendAll = async (count: number) => {
    for (let i = 0; i < count; i += batch) {
      const appends = [];
      for (let k = 0; k < batch; k++, n++) {
        const conv = convs[(n * 7919) % CONVERSATIONS]!;
        appends.push(store.messages.append({ conv, id: id++, from: conv.slice(2, 8), dev: "phone", cid: `c${n}`, kind: 1, body, ts: Date.now() }));
      }
      await Promise.all(appends);
    }
  };
  try {
    await appendAll(WARM_UP);
    const before = process.cpuUsage();
    await appendAll(MEASURED);
    const used = process.cpuUsage(before);
    return { user: used.user / MEASURED, system: used.system / MEASURED };
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
console.log(`append bench, bun ${Bun.version}, SQLite file (synchronous = normal), ${CONVERSATIONS} conversations, ${MEASURED.toLocaleString("en-US")} appends x ${ROUNDS} rounds, median µs of process CPU per message`);
console.log("messages per commit    user  system   total");
for (const batch of BATCHES) {
  const rounds = [];
  for (let r = 0; r < ROUNDS; r++) rounds.push(await round(batch));
  const user = median(rounds.map((r) => r.user));
  const system = median(rounds.map((r) => r.system));
  console.log(`${String(batch).padStart(19)} ${user.toFixed(1).padStart(7)} ${system.toFixed(1).padStart(7)} ${median(rounds.map((r) => r.user + r.system)).toFixed(1).padStart(7)}`);
}
