// What was acked before close is there after reopening the same file, lastSeq included; so are
// the devices' last-seen times, which are written in batches.

import { Database } from "bun:sqlite";
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openSqlite } from "../../src/storage/sqlite/db.ts";
import type { NewMessage, StoredMessage } from "../../src/storage/types.ts";

const dir = mkdtempSync(join(tmpdir(), "msgr-sqlite-reopen-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("messages (pending ones included), lastSeq and metadata survive close and reopen", async () => {
  const path = join(dir, "nested", "msgr.db");
  const messages: NewMessage[] = Array.from({ length: 20 }, (_, i) => ({
    conv: i % 2 === 0 ? "even" : "odd",
    id: (1n << 60n) + BigInt(i),
    from: "alice",
    dev: "phone",
    cid: `cid-${i}`,
    kind: 1,
    body: Uint8Array.of(i, 255 - i),
    ts: 1000 + i,
  }));

  const first = openSqlite({ path, synchronous: "full" });
  const stored: StoredMessage[] = (await Promise.all(messages.map((m) => first.messages.append(m)))).map((r) => r.message);
  expect(stored.map((m) => m.seq)).toEqual(messages.map((_, i) => Math.floor(i / 2) + 1));
  await first.metadata.createConversation(
    { id: "even", type: 2, title: "evens", createdBy: "alice", createdAt: 1 },
    [{ user: "alice", admin: true, joinedSeq: 1, delivered: 3, read: 2 }],
  );
  // Prune the tail of "odd" so that its lastSeq must come from the seq table, not the rows.
  expect(await first.messages.pruneBefore(1019)).toBe(19);
  // Still pending when close() is called: close commits it.
  const pending = first.messages.append({ ...messages[0]!, conv: "late", cid: "late" });
  await first.close();
  expect((await pending).message.seq).toBe(1);

  const second = openSqlite({ path, synchronous: "full" });
  try {
    expect(await second.messages.range("even", 0, 100)).toEqual([]);
    expect(await second.messages.lastSeq("even")).toBe(10);
    expect(await second.messages.lastSeq("odd")).toBe(10);
    expect(await second.messages.firstRetainedSeq("odd")).toBe(10);
    expect(await second.messages.range("odd", 0, 100)).toEqual([stored[19]!]);
    expect((await second.messages.range("late", 0, 10)).map((m) => m.id)).toEqual([messages[0]!.id]);
    // Seqs continue from the persisted last seq, not from the (pruned) rows.
    expect((await second.messages.append({ ...messages[0]!, cid: "after-reopen" })).message.seq).toBe(11);
    // Client ids still stored are still known after reopening.
    expect(await second.messages.append({ ...messages[19]!, body: new Uint8Array() })).toEqual({
      message: stored[19]!,
      duplicate: true,
    });
    expect(await second.metadata.listMembers("even")).toEqual([
      { user: "alice", admin: true, joinedSeq: 1, delivered: 3, read: 2 },
    ]);
  } finally {
    await second.close();
  }
});

test("a known device's last-seen time, written in a batch after the turn, is written by close too and never goes back", async () => {
  const path = join(dir, "last-seen.db");
  const first = openSqlite({ path, synchronous: "full" });
  expect(first.metadata.touchDevice("alice", "phone", 1000, 16)).toBe("new");
  // Known now: a read at once, its time pending until the end of the turn (or close).
  expect(first.metadata.touchDevice("alice", "phone", 3000, 16)).toBe("known");
  expect(first.metadata.touchDevice("alice", "phone", 2000, 16)).toBe("known");
  await first.close();

  const second = openSqlite({ path, synchronous: "full" });
  try {
    expect(await second.metadata.listDevices("alice")).toEqual([{ user: "alice", device: "phone", firstSeen: 1000, lastSeen: 3000, revoked: false }]);
    expect(second.metadata.touchDevice("alice", "phone", 5000, 16)).toBe("known");
    // Written after the turn without anyone asking: this immediate runs after the writer's.
    await new Promise<void>((resolve) => setImmediate(resolve));
    const raw = new Database(path, { readonly: true });
    try {
      expect(raw.query(`SELECT last_seen AS t FROM devices WHERE "user" = 'alice'`).get()).toEqual({ t: 5000 });
    } finally {
      raw.close();
    }
    expect(await second.metadata.revokeDevice("alice", "phone", 6000)).toBe(true);
    expect(second.metadata.touchDevice("alice", "phone", 7000, 16)).toBe("revoked");
  } finally {
    await second.close();
  }
});
