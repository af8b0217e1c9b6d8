// Migration 0011 rebuilds users and devices WITHOUT ROWID: every row, ban and revocation a server
// of the release before wrote is still there, and the stores read and write the new tables.

import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openSqlite } from "../../src/storage/sqlite/db.ts";
import { sqliteDatabaseBefore } from "./sqlite-migrations.ts";

const dir = mkdtempSync(join(tmpdir(), "msgr-lean-identity-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const BEFORE_0011 = [
  `INSERT INTO users (id, created_at, origin, banned_at, ban_reason) VALUES ('alice', 1000, 'login', NULL, NULL), ('mallory', 2000, 'admin', 5000, 'spam')`,
  `INSERT INTO devices ("user", device, first_seen, last_seen, revoked_at) VALUES ('alice', 'phone', 1000, 9000, NULL), ('alice', 'old', 1100, 1200, 3000), ('mallory', 'm1', 2000, 4000, NULL)`,
];

test("users and devices keep every row, ban and revocation across the rebuild", async () => {
  const backend = openSqlite({ path: sqliteDatabaseBefore(dir, "0011_lean_identity", BEFORE_0011), synchronous: "normal" });
  try {
    expect(await backend.safety.getUser("alice")).toEqual({ id: "alice", createdAt: 1000, origin: "login", bannedAt: null, banReason: null });
    expect(await backend.safety.getUser("mallory")).toEqual({ id: "mallory", createdAt: 2000, origin: "admin", bannedAt: 5000, banReason: "spam" });
    expect(await backend.metadata.listDevices("alice")).toEqual([
      { user: "alice", device: "phone", firstSeen: 1000, lastSeen: 9000, revoked: false },
      { user: "alice", device: "old", firstSeen: 1100, lastSeen: 1200, revoked: true },
    ]);
    // The rebuilt tables take new rows and keep refusing what they refused.
    expect(await backend.safety.admitUser("bob", "login", 10_000)).toEqual({ user: { id: "bob", createdAt: 10_000, origin: "login", bannedAt: null, banReason: null }, created: true });
    expect((await backend.safety.admitUser("alice", "login", 10_000)).created).toBe(false);
    expect(await backend.metadata.touchDevice("alice", "old", 10_000, 10)).toBe("revoked");
    expect(await backend.metadata.touchDevice("bob", "laptop", 10_000, 10)).toBe("new");
    expect(await backend.metadata.touchDevice("bob", "laptop", 11_000, 10)).toBe("known");
  } finally {
    await backend.close();
  }
});
