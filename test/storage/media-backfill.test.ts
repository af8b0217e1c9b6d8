// Media recorded before upload slots expired and before sends made copies: after migrating, sent
// media is served from the key its upload wrote, and unsent media gets a slot that ends an hour
// after it was issued, so the sweeper removes it.

import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openSqlite } from "../../src/storage/sqlite/db.ts";
import { sqliteDatabaseBefore } from "./sqlite-migrations.ts";

const dir = mkdtempSync(join(tmpdir(), "msgr-media-backfill-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const sha = "a".repeat(64);
const BEFORE_0003 = [
  `INSERT INTO media (id, owner, content_type, size, sha256, created_at, conv_id, thumb) VALUES
     ('msent', 'alice', 'image/png', 10, '${sha}', 1000, 'c1', 'mthumb'),
     ('mthumb', 'alice', 'image/png', 10, '${sha}', 2000, 'c1', NULL),
     ('munsent', 'alice', 'image/png', 10, '${sha}', 3000, NULL, NULL)`,
];

test("media rows from before slots and copies are served from their upload key, or expire an hour after issue", async () => {
  const path = sqliteDatabaseBefore(dir, "0003_media_slots", BEFORE_0003);
  const backend = openSqlite({ path, synchronous: "normal" });
  try {
    const { metadata } = backend;
    expect(await metadata.getMedia("msent")).toMatchObject({ conv: "c1", objectKey: "media/msent", expiresAt: null, thumb: "mthumb" });
    expect(await metadata.getMedia("mthumb")).toMatchObject({ conv: "c1", objectKey: "media/mthumb", expiresAt: null });
    expect(await metadata.getMedia("munsent")).toMatchObject({ conv: null, objectKey: null, expiresAt: 3_000 + 3_600_000 });
    expect((await metadata.listExpiredUploads(3_000 + 3_600_000, 10)).map((m) => m.id)).toEqual(["munsent"]);
  } finally {
    await backend.close();
  }
});
