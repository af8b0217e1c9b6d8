// What a message costs on disk in the embedded (SQLite) store: 10,000 messages with 100-byte
// bodies across 100 conversations, appended as the group commit batches them, then the file's
// size per message once the WAL is checkpointed into it and the file vacuumed.
// Run: bun bench/message-size.bench.ts

import { Database } from "bun:sqlite";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openSqlite } from "../src/storage/sqlite/db.ts";

const CONVERSATIONS = 100;
const PER_CONVERSATION = 100;
const BODY_BYTES = 100;

const dir = mkdtempSync(join(tmpdir(), "msgr-message-size-"));
const path = join(dir, "msgr.db");
try {
  const store = openSqlite({ path, synchronous: "normal" });
  const convs = Array.from({ length: CONVERSATIONS }, () => `d:${crypto.randomUUID()}`);
  const body = new Uint8Array(BODY_BYTES).fill(0x61);
  let n = 0;
  for (let round = 0; round < PER_CONVERSATION; round++) {
    await Promise.all(
      convs.map((conv) => store.messages.append({ conv, id: (BigInt(Date.now()) << 22n) | BigInt(n++ & 4095), from: `user-${n % 7}`, dev: "phone", cid: crypto.randomUUID(), kind: 1, body, ts: Date.now() })),
    );
  }
  await store.close();
  const db = new Database(path);
  db.run("PRAGMA wal_checkpoint(TRUNCATE)");
  db.run("VACUUM");
  db.close();
  const messages = CONVERSATIONS * PER_CONVERSATION;
  console.log(`${messages} messages of ${BODY_BYTES}-byte bodies: ${Math.round(statSync(path).size / messages)} bytes per message in the database file`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
