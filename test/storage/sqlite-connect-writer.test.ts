// What connections register in the embedded store (new users, new devices, last-seen times) is
// written in one transaction after the turn (src/storage/sqlite/connect-writer.ts). Until then the
// stores answer from the batch: every read of users and devices sees it, pending devices count
// towards the device limit, and a provisioning through the admin API is written before it returns.

import { Database } from "bun:sqlite";
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openSqlite, type SqliteBackend } from "../../src/storage/sqlite/db.ts";

const dir = mkdtempSync(join(tmpdir(), "msgr-connect-writer-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
async function withStore(body: (s: SqliteBackend, path: string) => Promise<void>, warn?: (message: string) => void): Promise<void> {
  const path = join(dir, `db-${++n}.db`);
  const s = openSqlite({ path, synchronous: "normal", warn });
  try {
    await body(s, path);
  } finally {
    await s.close();
  }
}

/** What another connection to the file reads: only what was committed. */
function committed(path: string): { users: string[]; devices: string[] } {
  const raw = new Database(path, { readonly: true });
  try {
    return {
      users: raw.query<{ id: string }, []>(`SELECT id FROM users ORDER BY id`).all().map((r) => r.id),
      devices: raw.query<{ d: string }, []>(`SELECT "user" || '/' || device AS d FROM devices ORDER BY 1`).all().map((r) => r.d),
    };
  } finally {
    raw.close();
  }
}

/** The end of this turn: an immediate queued now runs after the writer's, queued before it. */
const endOfTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

test("a turn's registrations are written together after it, and the stores see them before", async () => {
  await withStore(async (s, path) => {
    for (const u of ["alice", "bob"]) {
      expect(await s.safety.admitUser(u, "login", 1000)).toMatchObject({ created: true });
      expect(await s.metadata.touchDevice(u, "phone", 1000, 4)).toBe("new");
    }
    // Again in the same turn: known, from the batch.
    expect(await s.safety.admitUser("alice", "login", 1100)).toMatchObject({ created: false, user: { createdAt: 1000 } });
    expect(await s.metadata.touchDevice("alice", "phone", 1200, 4)).toBe("known");
    expect(committed(path)).toEqual({ users: [], devices: [] });
    await endOfTurn();
    expect(committed(path)).toEqual({ users: ["alice", "bob"], devices: ["alice/phone", "bob/phone"] });
    expect(await s.metadata.listDevices("alice")).toEqual([{ user: "alice", device: "phone", firstSeen: 1000, lastSeen: 1200, revoked: false }]);
  });
});

test("every read and write of users and devices sees a registration still in the batch", async () => {
  await withStore(async (s) => {
    await s.safety.admitUser("carol", "login", 1000);
    expect(await s.safety.getUser("carol")).toMatchObject({ id: "carol", origin: "login", bannedAt: null });
    await s.safety.admitUser("dave", "login", 1000);
    expect(await s.safety.knownUsers(["dave", "nobody"])).toEqual(new Set(["dave"]));
    await s.safety.admitUser("erin", "login", 1000);
    expect((await s.safety.searchUsers("eri", "", 10)).map((u) => u.id)).toEqual(["erin"]);
    await s.safety.admitUser("mallory", "login", 1000);
    expect(await s.safety.setBan("mallory", { at: 2000, reason: "spam" })).toMatchObject({ id: "mallory", bannedAt: 2000 });
    // Banned since: the next connection reads the ban.
    expect((await s.safety.admitUser("mallory", "login", 3000)).user.bannedAt).toBe(2000);

    expect(await s.metadata.touchDevice("carol", "tablet", 1000, 4)).toBe("new");
    expect(await s.metadata.isDeviceRevoked("carol", "tablet")).toBe(false);
    expect(await s.metadata.touchDevice("carol", "laptop", 1000, 4)).toBe("new");
    expect(await s.metadata.revokeDevice("carol", "laptop", 2000)).toBe(true);
    expect(await s.metadata.touchDevice("carol", "laptop", 3000, 4)).toBe("revoked");
    expect(await s.metadata.touchDevice("carol", "watch", 1000, 4)).toBe("new");
    expect(await s.e2ee.deviceStates(["carol"], 1000)).toEqual(
      expect.arrayContaining([
        { user: "carol", device: "tablet", revoked: false, claimable: false },
        { user: "carol", device: "laptop", revoked: true, claimable: false },
        { user: "carol", device: "watch", revoked: false, claimable: false },
      ]),
    );
  });
});

test("devices still in the batch count towards their user's limit", async () => {
  await withStore(async (s, path) => {
    expect(await s.metadata.touchDevice("frank", "d1", 1000, 2)).toBe("new");
    expect(await s.metadata.touchDevice("frank", "d2", 1000, 2)).toBe("new");
    expect(await s.metadata.touchDevice("frank", "d3", 1000, 2)).toBe("too-many");
    // Another user's limit is their own.
    expect(await s.metadata.touchDevice("grace", "d1", 1000, 2)).toBe("new");
    await endOfTurn();
    expect(committed(path).devices).toEqual(["frank/d1", "frank/d2", "grace/d1"]);
    expect(await s.metadata.touchDevice("frank", "d3", 2000, 2)).toBe("too-many");
  });
});

test("a user provisioned through the admin API is written before admitUser returns", async () => {
  await withStore(async (s, path) => {
    await s.safety.admitUser("heidi", "login", 1000);
    expect(await s.safety.admitUser("ivan", "admin", 1000)).toMatchObject({ created: true, user: { origin: "admin" } });
    // Written at once, and with it the login registration that was waiting.
    expect(committed(path).users).toEqual(["heidi", "ivan"]);
    expect(await s.safety.admitUser("heidi", "admin", 2000)).toMatchObject({ created: false, user: { origin: "login", createdAt: 1000 } });
  });
});

test("a batch that cannot be written is said, kept, and written with the next one", async () => {
  const warnings: string[] = [];
  await withStore(async (s, path) => {
    expect(await s.metadata.touchDevice("judy", "phone", 1000, 4)).toBe("new");
    // Another connection takes the table away: the batch written after this turn fails.
    const other = new Database(path);
    other.run("ALTER TABLE devices RENAME TO devices_away");
    await endOfTurn();
    expect(warnings).toEqual([expect.stringContaining("registrations and last-seen times not written yet")]);
    other.run("ALTER TABLE devices_away RENAME TO devices");
    other.close();
    // Still known from the batch, and written with the next one.
    expect(await s.metadata.touchDevice("judy", "phone", 2000, 4)).toBe("known");
    expect(await s.metadata.touchDevice("judy", "laptop", 2000, 4)).toBe("new");
    await endOfTurn();
    expect(committed(path).devices).toEqual(["judy/laptop", "judy/phone"]);
  }, (m) => warnings.push(m));
});
