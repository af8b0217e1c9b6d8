// Runs the message and metadata contracts against a real PostgreSQL server (started by the test
// helper), each test on a database of its own, plus what only a shared server can show: two
// backends with separate pools, as two nodes of a cluster have, working on the same rows at once.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { drizzle } from "drizzle-orm/postgres-js";
import { migrate } from "drizzle-orm/postgres-js/migrator";
import postgres from "postgres";
import { migratePostgres, openPostgres, type PostgresBackend } from "../../src/storage/postgres/db.ts";
import { MembershipError, UploadQuotaError, type AppendResult, type ConversationRecord, type MediaRecord, type MemberRecord } from "../../src/storage/types.ts";
import { startPostgres, type PostgresServer } from "../helpers/services/postgres.ts";
import { expectFailedBatchRejectedWhole, message, messageStoreContract } from "./message-store.contract.ts";
import { metadataStoreContract } from "./metadata-store.contract.ts";
import { safetyStoreContract } from "./safety-store.contract.ts";
import { e2eeStoreContract, kp, next } from "./e2ee-store.contract.ts";
import { expectSafetyBackfilled, SAFETY_BACKFILL_FIXTURE } from "../storage/safety-backfill-fixture.ts";

const POOL_SIZE = 4;

let server: PostgresServer;
/** Connected to the maintenance database, to create and drop the per-test ones. */
let admin: postgres.Sql;

beforeAll(async () => {
  server = await startPostgres();
  admin = postgres(withDatabase("postgres"), { max: 1, onnotice: () => {} });
});
afterAll(async () => {
  await admin?.end();
  await server?.stop();
});

function withDatabase(name: string): string {
  const url = new URL(server.url);
  url.pathname = `/${name}`;
  return url.toString();
}

let databases = 0;

/**
 * A new, empty database (not migrated: openPostgres does that); `drop` removes it. `isolation`
 * sets its default transaction isolation, as a DBA might.
 */
async function freshDatabase(isolation = "read committed"): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `t${++databases}`;
  await admin.unsafe(`CREATE DATABASE ${name}`);
  await admin.unsafe(`ALTER DATABASE ${name} SET default_transaction_isolation TO '${isolation}'`);
  return {
    url: withDatabase(name),
    // FORCE: a closed pool's server processes may take a moment to go away.
    drop: async () => void (await admin.unsafe(`DROP DATABASE ${name} WITH (FORCE)`)),
  };
}

async function openFresh(): Promise<{ backend: PostgresBackend; close: () => Promise<void> }> {
  const db = await freshDatabase();
  const backend = await openPostgres({ url: db.url, poolSize: POOL_SIZE });
  return {
    backend,
    close: async () => {
      await backend.close();
      await db.drop();
    },
  };
}

/** Two backends on one database, each with its own pool: two nodes of a cluster. */
async function openTwo(isolation?: string): Promise<{ a: PostgresBackend; b: PostgresBackend; close: () => Promise<void> }> {
  const db = await freshDatabase(isolation);
  const [a, b] = await Promise.all([openPostgres({ url: db.url, poolSize: POOL_SIZE }), openPostgres({ url: db.url, poolSize: POOL_SIZE })]);
  return {
    a,
    b,
    close: async () => {
      await Promise.all([a.close(), b.close()]);
      await db.drop();
    },
  };
}

messageStoreContract("postgres message store", async () => {
  const { backend, close } = await openFresh();
  return { store: backend.messages, close };
});
metadataStoreContract("postgres metadata store", async () => {
  const { backend, close } = await openFresh();
  return { store: backend.metadata, close };
});
safetyStoreContract("postgres safety store", async () => {
  const { backend, close } = await openFresh();
  return { safety: backend.safety, metadata: backend.metadata, close };
});
e2eeStoreContract("postgres e2ee store", async () => {
  const { backend, close } = await openFresh();
  return { e2ee: backend.e2ee, metadata: backend.metadata, close };
});

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

function group(id: string): ConversationRecord {
  return { id, type: 2, title: id, createdBy: "owner", createdAt: 1_700_000_000_000 };
}

function member(user: string, admin = false): MemberRecord {
  return { user, admin, joinedSeq: 1, delivered: 0, read: 0 };
}

const refusal = (r: PromiseSettledResult<unknown>) =>
  r.status === "fulfilled" ? "ok" : r.reason instanceof MembershipError ? r.reason.reason : String(r.reason);

describe("postgres message store specifics", () => {
  test("a failed group commit rejects every append of its batch and consumes no seqs", async () => {
    const { backend, close } = await openFresh();
    try {
      await expectFailedBatchRejectedWhole(backend.messages);
    } finally {
      await close();
    }
  });

  // The server bounds how long a statement may wait: without statementTimeoutMs an append behind
  // another session's lock waits for as long as the lock is held, and its command with it.
  test("an append held up by another session's lock fails after statementTimeoutMs, consuming no seq; it goes through once the lock is gone", async () => {
    const db = await freshDatabase();
    const backend = await openPostgres({ url: db.url, poolSize: POOL_SIZE, statementTimeoutMs: 200 });
    const locker = postgres(db.url, { max: 1, onnotice: () => {} });
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let locked!: () => void;
    const isLocked = new Promise<void>((r) => (locked = r));
    try {
      await backend.messages.append(message("c1", 1));
      const holding = locker.begin(async (tx) => {
        await tx`LOCK TABLE messages IN ACCESS EXCLUSIVE MODE`;
        locked();
        await released;
      });
      await isLocked;
      await expect(backend.messages.append(message("c1", 2))).rejects.toThrow(/statement timeout/);
      release();
      await holding;
      const retried = await backend.messages.append(message("c1", 2));
      expect([retried.message.seq, retried.duplicate]).toEqual([2, false]);
      expect((await backend.messages.range("c1", 0, 10)).map((m) => m.seq)).toEqual([1, 2]);
    } finally {
      release();
      await locker.end();
      await backend.close();
      await db.drop();
    }
  });

  test("two stores appending to the same conversations at once get contiguous seqs, each in its call order", async () => {
    const { a, b, close } = await openTwo();
    try {
      const calls: { store: "a" | "b"; result: Promise<AppendResult> }[] = [];
      // Waves of appends on both stores, so that many batches from each contend for the same
      // conversations; the two stores name the conversations in opposite orders.
      for (let wave = 0; wave < 20; wave++) {
        for (let i = 0; i < 10; i++) {
          const n = wave * 10 + i + 1;
          for (const conv of ["c1", "c2"]) calls.push({ store: "a", result: a.messages.append(message(conv, n, { cid: `a-${n}`, dev: "a" })) });
          for (const conv of ["c2", "c1"]) calls.push({ store: "b", result: b.messages.append(message(conv, n, { cid: `b-${n}`, dev: "b" })) });
        }
        await nextTurn();
      }
      const results = await Promise.all(calls.map((c) => c.result));
      expect(results.every((r) => !r.duplicate)).toBe(true);

      for (const conv of ["c1", "c2"]) {
        const mine = results.map((r, i) => ({ store: calls[i]!.store, m: r.message })).filter((x) => x.m.conv === conv);
        expect(mine.map((x) => x.m.seq).sort((p, q) => p - q)).toEqual(Array.from({ length: 400 }, (_, i) => i + 1));
        for (const store of ["a", "b"]) {
          const seqs = mine.filter((x) => x.store === store).map((x) => x.m.seq);
          expect(seqs).toEqual([...seqs].sort((p, q) => p - q));
        }
        const stored = await a.messages.range(conv, 0, 1000);
        expect(stored).toEqual(await b.messages.range(conv, 0, 1000));
        expect(stored).toEqual(mine.map((x) => x.m).sort((p, q) => p.seq - q.seq));
        expect(await b.messages.lastSeq(conv)).toBe(400);
      }
    } finally {
      await close();
    }
  });

  test("the same client id racing from two stores is stored once, and both get that message", async () => {
    const { a, b, close } = await openTwo();
    try {
      const rounds = 30;
      const pairs = await Promise.all(
        Array.from({ length: rounds }, async (_, i) => {
          // Spread over several loop turns, so that some pairs meet within batches and some across.
          for (let t = 0; t < i % 3; t++) await nextTurn();
          const cid = `race-${i}`;
          return Promise.all([
            a.messages.append(message("c1", i + 1, { cid, dev: "phone" })),
            b.messages.append(message("c1", i + 1001, { cid, dev: "laptop", body: new Uint8Array([i]) })),
          ]);
        }),
      );
      for (const [ra, rb] of pairs) {
        expect([ra.duplicate, rb.duplicate].sort()).toEqual([false, true]);
        expect(ra.message).toEqual(rb.message);
      }
      const stored = await a.messages.range("c1", 0, 1000);
      expect(stored.map((m) => m.seq)).toEqual(Array.from({ length: rounds }, (_, i) => i + 1));
      expect(new Set(stored.map((m) => m.cid)).size).toBe(rounds);
      expect(stored).toEqual(pairs.map(([ra]) => ra.message).sort((p, q) => p.seq - q.seq));
      expect(await b.messages.lastSeq("c1")).toBe(rounds);
    } finally {
      await close();
    }
  });
});

describe("postgres metadata store specifics", () => {
  test("concurrent additions from two stores never exceed the group size", async () => {
    const { a, b, close } = await openTwo();
    try {
      await a.metadata.createConversation(group("g1"), [member("owner", true)]);
      const results = await Promise.allSettled(
        Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? a : b).metadata.addMembers("g1", [member(`u${i}`)], 5)),
      );
      expect(results.map(refusal).filter((r) => r === "ok")).toHaveLength(4);
      expect(results.map(refusal).filter((r) => r !== "ok")).toEqual(Array(16).fill("group-full"));
      expect(await b.metadata.listMembers("g1")).toHaveLength(5);
    } finally {
      await close();
    }
  });

  test("removing or demoting the two last admins at once from two stores leaves one admin", async () => {
    const { a, b, close } = await openTwo();
    try {
      for (let i = 0; i < 10; i++) {
        const conv = `g${i}`;
        await a.metadata.createConversation(group(conv), [member("x", true), member("y", true), member("z")]);
        const settled =
          i % 2 === 0
            ? await Promise.allSettled([a.metadata.removeMember(conv, "x"), b.metadata.removeMember(conv, "y")])
            : await Promise.allSettled([a.metadata.setAdmin(conv, "x", false), b.metadata.setAdmin(conv, "y", false)]);
        expect(settled.map(refusal).sort()).toEqual(["last-admin", "ok"]);
        expect((await b.metadata.listMembers(conv)).filter((m) => m.admin)).toHaveLength(1);
      }
    } finally {
      await close();
    }
  });

  test("upload slots reserved from two stores at once never pass the owner's quota together", async () => {
    const { a, b, close } = await openTwo();
    try {
      const now = 1_700_000_000_000;
      const slot = (id: string, size: number): MediaRecord => ({
        id,
        owner: "alice",
        contentType: "image/png",
        size,
        sha256: "a".repeat(64),
        createdAt: now,
        expiresAt: now + 60_000,
        conv: null,
        objectKey: null,
        thumb: null,
      });
      const quotaRefusal = (r: PromiseSettledResult<unknown>) =>
        r.status === "fulfilled" ? "ok" : r.reason instanceof UploadQuotaError ? r.reason.reason : String(r.reason);
      // The first reservation ever of this owner also creates the row the others lock.
      const pending = await Promise.allSettled(
        Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? a : b).metadata.reserveUpload(slot(`p${i}`, 10), { maxPending: 5, maxBytesPerDay: 1_000_000 }, now)),
      );
      expect(pending.map(quotaRefusal).filter((r) => r === "ok")).toHaveLength(5);
      expect(pending.map(quotaRefusal).filter((r) => r !== "ok")).toEqual(Array(15).fill("pending-uploads"));
      const bytes = await Promise.allSettled(
        Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? a : b).metadata.reserveUpload(slot(`b${i}`, 100), { maxPending: 100, maxBytesPerDay: 1050 }, now)),
      );
      // 50 bytes used by the first round: ten more slots of 100 fit.
      expect(bytes.map(quotaRefusal).filter((r) => r === "ok")).toHaveLength(10);
      expect(bytes.map(quotaRefusal).filter((r) => r !== "ok")).toEqual(Array(10).fill("daily-bytes"));
    } finally {
      await close();
    }
  });

  test("media rows from before slots and copies are served from their upload key, or expire an hour after issue", async () => {
    const db = await freshDatabase();
    // Migrated up to just before the media slot columns, as a server of that version left it.
    const migrations = mkdtempSync(join(tmpdir(), "msgr-pg-migrations-"));
    const client = postgres(db.url, { max: 1, onnotice: () => {} });
    try {
      cpSync(join(import.meta.dir, "../../src/storage/postgres/migrations"), migrations, { recursive: true });
      const journalPath = join(migrations, "meta", "_journal.json");
      const journal = JSON.parse(readFileSync(journalPath, "utf8")) as { entries: { tag: string }[] };
      journal.entries = journal.entries.slice(0, journal.entries.findIndex((e) => e.tag === "0003_media_slots"));
      writeFileSync(journalPath, JSON.stringify(journal));
      await migrate(drizzle({ client }), { migrationsFolder: migrations });
      const sha = "a".repeat(64);
      await client`INSERT INTO media (id, owner, content_type, size, sha256, created_at, conv_id, thumb) VALUES
        ('msent', 'alice', 'image/png', 10, ${sha}, 1000, 'c1', 'mthumb'),
        ('mthumb', 'alice', 'image/png', 10, ${sha}, 2000, 'c1', NULL),
        ('munsent', 'alice', 'image/png', 10, ${sha}, 3000, NULL, NULL)`;
    } finally {
      await client.end();
      rmSync(migrations, { recursive: true, force: true });
    }
    const backend = await openPostgres({ url: db.url, poolSize: POOL_SIZE });
    try {
      const { metadata } = backend;
      expect(await metadata.getMedia("msent")).toMatchObject({ conv: "c1", objectKey: "media/msent", expiresAt: null, thumb: "mthumb" });
      expect(await metadata.getMedia("mthumb")).toMatchObject({ conv: "c1", objectKey: "media/mthumb", expiresAt: null });
      expect(await metadata.getMedia("munsent")).toMatchObject({ conv: null, objectKey: null, expiresAt: 3_000 + 3_600_000 });
      expect((await metadata.listExpiredUploads(3_000 + 3_600_000, 10)).map((m) => m.id)).toEqual(["munsent"]);
    } finally {
      await backend.close();
      await db.drop();
    }
  });

  test("safety migrations register users from their devices, and creators, openers and writers are members by choice", async () => {
    const db = await freshDatabase();
    // Migrated up to just before the safety tables, as a server of that version left it.
    const migrations = mkdtempSync(join(tmpdir(), "msgr-pg-migrations-"));
    const client = postgres(db.url, { max: 1, onnotice: () => {} });
    try {
      cpSync(join(import.meta.dir, "../../src/storage/postgres/migrations"), migrations, { recursive: true });
      const journalPath = join(migrations, "meta", "_journal.json");
      const journal = JSON.parse(readFileSync(journalPath, "utf8")) as { entries: { tag: string }[] };
      journal.entries = journal.entries.slice(0, journal.entries.findIndex((e) => e.tag === "0005_safety"));
      writeFileSync(journalPath, JSON.stringify(journal));
      await migrate(drizzle({ client }), { migrationsFolder: migrations });
      for (const statement of SAFETY_BACKFILL_FIXTURE) await client.unsafe(statement);
    } finally {
      await client.end();
      rmSync(migrations, { recursive: true, force: true });
    }
    const backend = await openPostgres({ url: db.url, poolSize: POOL_SIZE });
    try {
      await expectSafetyBackfilled(backend.safety);
    } finally {
      await backend.close();
      await db.drop();
    }
  });

  test("openDirect from two stores at once agrees on one conversation", async () => {
    const { a, b, close } = await openTwo();
    try {
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          (i % 2 === 0 ? a : b).metadata.openDirect({ ...group(`d${i}`), type: 1 }, i % 3 === 0 ? "alice" : "bob", i % 3 === 0 ? "bob" : "alice"),
        ),
      );
      expect(new Set(results.map((r) => r.id)).size).toBe(1);
      expect(results.filter((r) => r.created)).toHaveLength(1);
      expect(await b.metadata.listUserConversations("bob")).toEqual([{ conv: results[0]!.id, joinedSeq: 1 }]);
    } finally {
      await close();
    }
  });

  test("overlapping cursor batches from two stores, in opposite orders, neither deadlock nor lower a marker", async () => {
    const { a, b, close } = await openTwo();
    try {
      // Large enough that unsorted batches deadlock within a few rounds.
      const rounds = 20;
      const users = Array.from({ length: 200 }, (_, i) => `u${i}`);
      await a.metadata.createConversation(group("g1"), users.map((u) => member(u)));
      for (let round = 1; round <= rounds; round++) {
        const updates = users.map((user, i) => ({ conv: "g1", user, delivered: round * 1000 + i, read: round * 1000 - i }));
        const lower = [...updates].reverse().map((u) => ({ ...u, delivered: u.delivered - 5 }));
        await Promise.all([a.metadata.saveCursors(updates), b.metadata.saveCursors(lower)]);
      }
      const markers = new Map((await a.metadata.listMembers("g1")).map((m) => [m.user, [m.delivered, m.read]]));
      expect(markers).toEqual(new Map(users.map((u, i) => [u, [rounds * 1000 + i, rounds * 1000 - i]])));
    } finally {
      await close();
    }
  });
});

describe("postgres e2ee store specifics", () => {
  test("claims from two stores at once hand out each KeyPackage once, then the last-resort one", async () => {
    const { a, b, close } = await openTwo("repeatable read");
    try {
      const packages = Array.from({ length: 20 }, () => kp());
      await a.e2ee.addKeyPackages("eve", "e1", packages, kp(), 100, 1_700_000_000_000);
      const results = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).e2ee.claimKeyPackages([{ user: "eve", device: "e1" }], 1_700_000_000_000)));
      const taken = results.flat().filter((c) => !c.lastResort);
      expect(new Set(taken.map((c) => c.body.join(","))).size).toBe(20);
      expect(taken).toHaveLength(20);
      expect(results.flat().filter((c) => c.lastResort)).toHaveLength(20);
    } finally {
      await close();
    }
  });

  test("commits for one epoch from two stores at once: exactly one moves the group", async () => {
    const { a, b, close } = await openTwo("serializable");
    try {
      await a.metadata.createConversation(group("g1"), [member("alice", true)]);
      for (let epoch = 0; epoch < 10; epoch++) {
        const results = await Promise.all(
          Array.from({ length: 6 }, (_, i) => (i % 2 ? a : b).e2ee.advanceGroup("g1", epoch === 0 ? null : epoch, next(epoch + 1, [{ user: "alice", device: `d${i}` }], { commitHash: `e${epoch}-${i}` }))),
        );
        expect(results.filter(Boolean)).toHaveLength(1);
        expect((await b.e2ee.getGroup("g1"))!.epoch).toBe(epoch + 1);
      }
    } finally {
      await close();
    }
  });
});

describe("postgres with a stricter default isolation", () => {
  for (const isolation of ["repeatable read", "serializable"]) {
    test(`races stay correct when the database defaults to ${isolation}`, async () => {
      const { a, b, close } = await openTwo(isolation);
      try {
        await a.metadata.createConversation(group("g1"), [member("x", true), member("y", true)]);
        const [added, removed, appended] = await Promise.all([
          Promise.allSettled(Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? a : b).metadata.addMembers("g1", [member(`u${i}`)], 5))),
          Promise.allSettled([a.metadata.removeMember("g1", "x"), b.metadata.removeMember("g1", "y")]),
          Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? a : b).messages.append(message("c1", i + 1, { cid: `x${i >> 1}` })))),
        ]);
        // Whether the removal frees a place before the group fills depends on the interleaving.
        expect(removed.map(refusal).sort()).toEqual(["last-admin", "ok"]);
        expect(added.map(refusal).filter((r) => r !== "ok").every((r) => r === "group-full")).toBe(true);
        const members = await a.metadata.listMembers("g1");
        expect(members.length).toBe(2 + added.filter((r) => r.status === "fulfilled").length - 1);
        expect(members.length).toBeLessThanOrEqual(5);
        expect(members.filter((m) => m.admin)).toHaveLength(1);
        expect(appended.filter((r) => !r.duplicate).map((r) => r.message.seq).sort((p, q) => p - q)).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
        expect(await b.messages.lastSeq("c1")).toBe(10);
      } finally {
        await close();
      }
    });
  }
});

describe("postgres migrations", () => {
  test("nodes migrating one empty database at once all succeed, and the schema is usable", async () => {
    const db = await freshDatabase();
    try {
      await Promise.all([migratePostgres(db.url), migratePostgres(db.url), migratePostgres(db.url)]);
      await migratePostgres(db.url);
      const backend = await openPostgres({ url: db.url, poolSize: 2 });
      try {
        expect((await backend.messages.append(message("c1", 1))).message.seq).toBe(1);
      } finally {
        await backend.close();
      }
    } finally {
      await db.drop();
    }
  });
});
