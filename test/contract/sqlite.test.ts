// Runs the message and metadata contracts against SQLite files (not ":memory:", which has no
// WAL and no fsync) in both synchronous modes.

import { Database } from "bun:sqlite";
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openSqlite, type SqliteBackend } from "../../src/storage/sqlite/db.ts";
import { SqliteMessageStore } from "../../src/storage/sqlite/message-store.ts";
import { messageOfFrame } from "../../src/proto/message-frame.ts";
import { expectFailedBatchRejectedWhole, message, messageStoreContract } from "./message-store.contract.ts";
import { metadataStoreContract } from "./metadata-store.contract.ts";
import { safetyStoreContract } from "./safety-store.contract.ts";
import { e2eeStoreContract } from "./e2ee-store.contract.ts";

const dir = mkdtempSync(join(tmpdir(), "msgr-sqlite-contract-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let opened = 0;
function openFresh(synchronous: "full" | "normal"): { backend: SqliteBackend; close: () => Promise<void> } {
  const path = join(dir, `${synchronous}-${++opened}`, "msgr.db");
  const backend = openSqlite({ path, synchronous });
  return {
    backend,
    close: async () => {
      await backend.close();
      rmSync(join(path, ".."), { recursive: true, force: true });
    },
  };
}

for (const synchronous of ["full", "normal"] as const) {
  messageStoreContract(`sqlite message store (synchronous=${synchronous})`, async () => {
    const { backend, close } = openFresh(synchronous);
    return { store: backend.messages, close };
  }, { frames: true });
  metadataStoreContract(`sqlite metadata store (synchronous=${synchronous})`, async () => {
    const { backend, close } = openFresh(synchronous);
    return { store: backend.metadata, close };
  });
}
safetyStoreContract("sqlite safety store", async () => {
  const { backend, close } = openFresh("normal");
  return { safety: backend.safety, metadata: backend.metadata, close };
});
e2eeStoreContract("sqlite e2ee store", async () => {
  const { backend, close } = openFresh("normal");
  return { e2ee: backend.e2ee, metadata: backend.metadata, close };
});

describe("sqlite message store specifics", () => {
  test("a failed group commit rejects every append of its batch and consumes no seqs", async () => {
    const { backend, close } = openFresh("normal");
    try {
      await expectFailedBatchRejectedWhole(backend.messages);
    } finally {
      await close();
    }
  });

  test("a commit that fails because the connection is gone consumes no seqs", async () => {
    const path = join(dir, "closed-connection", "msgr.db");
    const setup = openSqlite({ path, synchronous: "full" });
    await setup.messages.append(message("c1", 1));
    await setup.close();

    const db = new Database(path, { strict: true });
    const store = new SqliteMessageStore(db);
    const pending = [store.append(message("c1", 2)), store.append(message("c1", 3))];
    db.close();
    expect((await Promise.allSettled(pending)).map((s) => s.status)).toEqual(["rejected", "rejected"]);

    const reopened = openSqlite({ path, synchronous: "full" });
    try {
      expect(await reopened.messages.lastSeq("c1")).toBe(1);
      expect((await reopened.messages.append(message("c1", 2))).message.seq).toBe(2);
      expect((await reopened.messages.range("c1", 0, 10)).map((m) => m.seq)).toEqual([1, 2]);
    } finally {
      await reopened.close();
    }
  });

  test("rows written before frames are read from their columns, streamed as frames, and rewritten with one", async () => {
    const { backend, close } = openFresh("normal");
    const path = join(dir, `normal-${opened}`, "msgr.db");
    try {
      const store = backend.messages;
      const old = message("c1", 1, { ref: 4 });
      const older = message("c1", 3, { exp: 1_800_000_000_000 });
      for (const m of [old, message("c1", 2), older]) await store.append(m);
      // What rows written before migration 0010 hold: the body in its column, no frame.
      const db = new Database(path, { strict: true });
      for (const [m, seq] of [[old, 1], [older, 3]] as const) db.query("UPDATE messages SET body = ?, frame = NULL WHERE conv_id = 'c1' AND seq = ?").run(m.body, seq);
      db.close();
      await store.append(message("c1", 4));
      const expected = { ...old, seq: 1 };
      const messages = await store.range("c1", 0, 10);
      expect(messages[0]).toEqual(expected);
      expect(messages[2]).toEqual({ ...older, seq: 3 });
      // Streamed as frames, the old rows among new ones: each the encoding of what range reads.
      const frames = await store.frames!("c1", 0, 10);
      expect(frames.map((f) => [f.seq, f.exp])).toEqual([[1, null], [2, null], [3, older.exp!], [4, null]]);
      expect(frames.map((f) => messageOfFrame(f.frame))).toEqual(messages);
      // A rewrite gives the row a frame and empties its body column.
      const edited = { ...expected, body: new TextEncoder().encode("edited"), edited: 7 };
      await store.rewrite(edited);
      expect((await store.range("c1", 0, 1))[0]).toEqual(edited);
      const check = new Database(path, { readonly: true });
      const row = check.query<{ body: Uint8Array; frame: Uint8Array | null }, []>("SELECT body, frame FROM messages WHERE conv_id = 'c1' AND seq = 1").get()!;
      check.close();
      expect([row.body.length, row.frame === null]).toEqual([0, false]);
    } finally {
      await close();
    }
  });

  test("duplicates without a client-id index: the window of recent client ids, then a resend's bounded lookup", async () => {
    const path = join(dir, "window", "msgr.db");
    const setup = openSqlite({ path, synchronous: "normal" });
    await setup.close();
    const db = new Database(path, { strict: true });
    // A window of 3 client ids, and resends looked up among a conversation's 5 newest messages.
    const store = new SqliteMessageStore(db, { recentClientIds: 3, resendLookback: 5 });
    try {
      for (let n = 1; n <= 8; n++) await store.append(message("c1", n));
      // In the window (the 3 newest): a plain duplicate is recognised.
      expect(await store.append(message("c1", 99, { cid: "c1-8" }))).toMatchObject({ duplicate: true, message: { seq: 8 } });
      // Out of the window: recognised only as a resend, and only among the 5 newest messages.
      expect((await store.append(message("c1", 98, { cid: "c1-4" }), { resend: true })).message.seq).toBe(4);
      expect((await store.append(message("c1", 97, { cid: "c1-2" }), { resend: true })).duplicate).toBe(false);
      // A plain SEND of a client id out of the window is stored again (the documented limit).
      expect((await store.append(message("c1", 96, { cid: "c1-3" }))).duplicate).toBe(false);
    } finally {
      db.close();
    }
    // Reopened, the window is read back from the newest rows.
    const again = new SqliteMessageStore(new Database(path, { strict: true }), { recentClientIds: 3, resendLookback: 5 });
    expect(await again.append(message("c1", 95, { cid: "c1-3" }))).toMatchObject({ duplicate: true, message: { seq: 10 } });
  });
});
