// message_index (schema.ts) is written a moment after each commit, not in it. What a crash leaves
// in between, rows without their entries, is indexed when the store opens: every acked message is
// found by (conv, seq) again and seqs go on from it. Its keys are a conversation's number above its
// seqs: a read stays within its conversation's keys, a number given in a commit that rolled back
// is not kept, and past the last seq or number an append fails. Migrations 0012 and 0013 index
// every row a server of an earlier release stored, and keep their rowids.

import { Database } from "bun:sqlite";
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { messageFrame } from "../../src/proto/message-frame.ts";
import { openSqlite } from "../../src/storage/sqlite/db.ts";
import { SqliteMessageStore } from "../../src/storage/sqlite/message-store.ts";
import type { NewMessage } from "../../src/storage/types.ts";
import { sqliteDatabaseBefore } from "./sqlite-migrations.ts";

const dir = mkdtempSync(join(tmpdir(), "msgr-message-seqs-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const message = (conv: string, i: number): NewMessage => ({ conv, id: (1n << 60n) + BigInt(i), from: "alice", dev: "phone", cid: `cid-${conv}-${i}`, kind: 1, body: Uint8Array.of(i), ts: 1000 + i });
const entries = (db: Database) => db.query<{ n: number }, []>("SELECT count(*) AS n FROM message_index").get()!.n;
/** Every entry as (conversation, seq, rowid), by rowid. */
const indexed = (db: Database) =>
  db.query("SELECT n.conv_id AS conv, s.key & ((1 << 36) - 1) AS seq, s.row AS row FROM message_index s JOIN conv_nums n ON n.num = s.key >> 36 ORDER BY s.row").all();

test("rows committed before a crash, their entries not yet written, are found after reopening", async () => {
  const path = join(dir, "crash.db");
  await openSqlite({ path, synchronous: "normal" }).close();
  // A store whose entries wait for a read or close, and that is never closed: a crash after its commits.
  const crashed = new Database(path, { strict: true });
  const before = new SqliteMessageStore(crashed, undefined, undefined, null);
  const acked = await Promise.all([0, 1, 2, 3, 4].map((i) => before.append(message(i % 2 ? "odd" : "even", i))));
  expect(acked.map((r) => r.message.seq)).toEqual([1, 1, 2, 2, 3]);
  expect(entries(crashed)).toBe(0);
  // A read writes the entries first; then two more commits whose entries the crash loses.
  expect((await before.range("even", 0, 10)).map((m) => m.seq)).toEqual([1, 2, 3]);
  expect(entries(crashed)).toBe(5);
  await Promise.all([5, 6].map((i) => before.append(message("odd", i))));
  expect(entries(crashed)).toBe(5);

  const again = openSqlite({ path, synchronous: "normal" });
  try {
    expect((await again.messages.range("odd", 0, 10)).map((m) => [m.seq, m.cid])).toEqual([
      [1, "cid-odd-1"],
      [2, "cid-odd-3"],
      [3, "cid-odd-5"],
      [4, "cid-odd-6"],
    ]);
    expect(await again.messages.lastSeq("odd")).toBe(4);
    expect((await again.messages.append(message("odd", 7))).message.seq).toBe(5);
    // A retransmission of a message acked before the crash is still a duplicate.
    expect(await again.messages.append(message("odd", 6), { resend: true })).toMatchObject({ duplicate: true, message: { seq: 4 } });
  } finally {
    await again.close();
    crashed.close();
  }
});

test("a store opened on the same file meanwhile indexes the waiting rows; the first one's entries then change nothing", async () => {
  const path = join(dir, "two.db");
  await openSqlite({ path, synchronous: "normal" }).close();
  const first = new Database(path, { strict: true });
  const server = new SqliteMessageStore(first, undefined, undefined, null);
  await Promise.all([0, 1, 2].map((i) => server.append(message("c", i))));
  // Another connection's store (the owner lock, owner-lock.ts, keeps a second msgr process out;
  // this covers anything else): it indexes the waiting rows at its open.
  const other = new Database(path, { strict: true });
  new SqliteMessageStore(other);
  expect(entries(other)).toBe(3);
  other.close();
  expect((await server.range("c", 0, 10)).map((m) => m.seq)).toEqual([1, 2, 3]);
  expect((await server.append(message("c", 3))).message.seq).toBe(4);
  expect((await server.range("c", 2, 10)).map((m) => m.seq)).toEqual([3, 4]);
  await server.close();
  first.close();
});

test("reads stay within their conversation's keys, whatever the bounds", async () => {
  const backend = openSqlite({ path: join(dir, "bounds.db"), synchronous: "normal" });
  try {
    const store = backend.messages;
    // Three conversations numbered in turn: "b"'s keys lie between "a"'s and "c"'s.
    for (const [i, conv] of ["a", "b", "c", "a", "b", "c"].entries()) await store.append(message(conv, i));
    expect((await store.range("b", -5, 100)).map((m) => [m.conv, m.seq])).toEqual([
      ["b", 1],
      ["b", 2],
    ]);
    expect((await store.history("b", Number.MAX_SAFE_INTEGER, 100)).map((m) => [m.conv, m.seq])).toEqual([
      ["b", 2],
      ["b", 1],
    ]);
    expect((await store.frames!("b", -1, 100)).map((f) => f.seq)).toEqual([1, 2]);
    expect(await store.firstRetainedSeq("b")).toBe(1);
    expect(await store.lastSeqBySender("b")).toEqual(new Map([["alice", 2]]));
    expect(await store.range("none", 0, 100)).toEqual([]);
    expect(await store.firstRetainedSeq("none")).toBe(1);
  } finally {
    await backend.close();
  }
});

test("a conversation numbered in a commit that rolled back gets a number of its own", async () => {
  const backend = openSqlite({ path: join(dir, "rollback.db"), synchronous: "normal" });
  try {
    const store = backend.messages;
    // The commit fails after numbering "x" (a body must be bytes), and rolls the number back.
    await expect(store.append({ ...message("x", 0), body: "text" as unknown as Uint8Array })).rejects.toThrow("bytes");
    // "y" is given the number the rollback freed; "x" must not keep it.
    await store.append(message("y", 1));
    await store.append(message("x", 2));
    expect((await store.range("x", 0, 10)).map((m) => [m.conv, m.cid])).toEqual([["x", "cid-x-2"]]);
    expect((await store.range("y", 0, 10)).map((m) => [m.conv, m.cid])).toEqual([["y", "cid-y-1"]]);
  } finally {
    await backend.close();
  }
});

test("past the last seq a key holds, or the last conversation number, an append fails and writes nothing", async () => {
  const path = join(dir, "limits.db");
  await openSqlite({ path, synchronous: "normal" }).close();
  const setup = new Database(path, { strict: true });
  // "full" has used every seq below 2^36; the next conversation numbered would be 2^27.
  setup.run(`INSERT INTO conv_seq (conv_id, last_seq) VALUES ('full', ${2 ** 36 - 1})`);
  setup.run(`INSERT INTO conv_nums (num, conv_id) VALUES (${2 ** 27 - 1}, 'last')`);
  setup.close();
  const backend = openSqlite({ path, synchronous: "normal" });
  try {
    await expect(backend.messages.append(message("full", 0))).rejects.toThrow("last seq");
    await expect(backend.messages.append(message("new", 1))).rejects.toThrow("last conversation");
    expect(await backend.messages.range("new", 0, 10)).toEqual([]);
    // The conversation numbered last still takes messages.
    expect((await backend.messages.append(message("last", 2))).message.seq).toBe(1);
    expect((await backend.messages.range("last", 0, 10)).map((m) => m.cid)).toEqual(["cid-last-2"]);
  } finally {
    await backend.close();
  }
});

test("migration 0012 indexes every stored message and keeps its rowid", async () => {
  const rows = [0, 1, 2].map((i) => {
    const m = message(i === 1 ? "b" : "a", i);
    const seq = i === 2 ? 2 : 1;
    const frame = Buffer.from(messageFrame({ ...m, seq })).toString("hex");
    return `INSERT INTO messages (rowid, conv_id, seq, id, sender, device, cid, kind, body, ts, frame) VALUES (${10 + i}, '${m.conv}', ${seq}, ${m.id}, 'alice', 'phone', '${m.cid}', 1, x'', ${m.ts}, x'${frame}')`;
  });
  const backend = openSqlite({ path: sqliteDatabaseBefore(dir, "0012_message_seqs", rows), synchronous: "normal" });
  try {
    expect((await backend.messages.range("a", 0, 10)).map((m) => [m.seq, m.cid])).toEqual([
      [1, "cid-a-0"],
      [2, "cid-a-2"],
    ]);
    expect((await backend.messages.append(message("b", 3))).message.seq).toBe(2);
    await backend.messages.flush();
    const check = new Database(join(dir, "msgr.db"), { readonly: true });
    try {
      expect(indexed(check)).toEqual([
        { conv: "a", seq: 1, row: 10 },
        { conv: "b", seq: 1, row: 11 },
        { conv: "a", seq: 2, row: 12 },
        { conv: "b", seq: 2, row: 13 },
      ]);
    } finally {
      check.close();
    }
  } finally {
    await backend.close();
  }
});

test("migration 0013 moves every entry to message_index; a row a crash left unindexed is indexed at open", async () => {
  const rows = [0, 1, 2, 3].map((i) => {
    const m = message(i === 1 ? "b" : "a", i);
    const seq = i < 2 ? 1 : i;
    const frame = Buffer.from(messageFrame({ ...m, seq })).toString("hex");
    return `INSERT INTO messages (rowid, conv_id, seq, id, sender, device, cid, kind, body, ts, frame) VALUES (${20 + i}, '${m.conv}', ${seq}, ${m.id}, 'alice', 'phone', '${m.cid}', 1, x'', ${m.ts}, x'${frame}')`;
  });
  // Row 23 ("a", seq 3) is the newest, and its entry was never written: that release crashed first.
  const entriesOf012 = ["('a', 1, 20)", "('b', 1, 21)", "('a', 2, 22)"].map((e) => `INSERT INTO message_seqs (conv_id, seq, row) VALUES ${e}`);
  const path = sqliteDatabaseBefore(join(dir, "m13"), "0013_message_index", [...rows, ...entriesOf012]);
  const backend = openSqlite({ path, synchronous: "normal" });
  try {
    expect((await backend.messages.range("a", 0, 10)).map((m) => [m.seq, m.cid])).toEqual([
      [1, "cid-a-0"],
      [2, "cid-a-2"],
      [3, "cid-a-3"],
    ]);
    expect((await backend.messages.append(message("b", 4))).message.seq).toBe(2);
    await backend.messages.flush();
    const check = new Database(path, { readonly: true });
    try {
      expect(indexed(check)).toEqual([
        { conv: "a", seq: 1, row: 20 },
        { conv: "b", seq: 1, row: 21 },
        { conv: "a", seq: 2, row: 22 },
        { conv: "a", seq: 3, row: 23 },
        { conv: "b", seq: 2, row: 24 },
      ]);
      expect(check.query("SELECT name FROM sqlite_master WHERE name = 'message_seqs'").all()).toEqual([]);
    } finally {
      check.close();
    }
  } finally {
    await backend.close();
  }
});
