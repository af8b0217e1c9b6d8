// `msgr backup` against a running server that keeps taking messages: a new server started on the
// restored copy has the whole history acknowledged before the backup began (contiguous seqs, the
// same bodies), the media, and the signing keys (a token of the old server still works).

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { cpSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import sharp from "sharp";
import { startServer, type RunningServer } from "../../src/server.ts";
import { Client, type WireMessage } from "../../src/sdk/index.ts";
import { nextEvent, startHarness, testConfig, text, type Harness } from "../helpers/harness.ts";

const ROOT = new URL("../..", import.meta.url).pathname;
let h: Harness;
const scratch = mkdtempSync(join(tmpdir(), "msgr-backup-test-"));
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.stop();
  rmSync(scratch, { recursive: true, force: true });
});

/** Runs `msgr backup` in a process of its own, without blocking this one (where the server runs). */
async function backup(dataDir: string, out: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const proc = Bun.spawn([process.execPath, "src/cli/main.ts", "backup", "--out", out], {
    cwd: ROOT,
    env: { ...process.env, MSGR_SERVER_DATA_DIR: dataDir },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}

async function allHistory(c: Client, conv: string): Promise<WireMessage[]> {
  const out: WireMessage[] = [];
  let before: number | undefined;
  for (;;) {
    const page = await c.history(conv, before, 200);
    out.push(...page.messages);
    if (page.messages.length < 200) return out.reverse();
    before = page.messages.at(-1)!.seq;
  }
}

describe("msgr backup", () => {
  test("a backup taken while messages flow restores into a server with the full acknowledged history", async () => {
    const alice = await h.client("b-alice");
    const bob = await h.client("b-bob");
    const conv = await alice.openDirect("b-bob");
    const group = await alice.createGroup("backup club", ["b-bob", "b-carol"]);
    const image = new Uint8Array(await sharp({ create: { width: 64, height: 48, channels: 3, background: "#884422" } }).png().toBuffer());
    const media = await alice.uploadMedia(image, "image/png");
    await alice.send(group.id, "a picture", { media });
    for (let i = 0; i < 200; i++) await (i % 2 ? bob : alice).send(conv.id, `before ${i}`);
    await bob.markRead(conv.id, 150);
    const bobToken = await h.token("b-bob", "b-bob-phone");

    // A writer that keeps sending while the backup runs.
    let writing = true;
    let sentDuring = 0;
    const writer = (async () => {
      while (writing) {
        await alice.send(conv.id, `during ${sentDuring}`);
        sentDuring++;
      }
    })();
    const ackedBefore = (await alice.send(conv.id, "last before the backup")).seq;
    const out = join(scratch, "backup");
    const result = await backup(h.dataDir, out);
    writing = false;
    await writer;
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("jwks.json");
    expect(result.stdout).toContain("media/");
    expect(sentDuring).toBeGreaterThan(0);
    expect(readdirSync(out).sort()).toEqual(["jwks.json", "media", "media.key", "msgr.db", "vapid.json"]);

    // Restore: a new data directory with the backup's contents, a new server on it.
    const restored = join(scratch, "restored");
    cpSync(out, restored, { recursive: true });
    let server: RunningServer | undefined;
    try {
      server = await startServer(testConfig(restored), { log: pino({ level: "silent" }) });
      const again = new Client({ url: server.wsUrl, token: bobToken, reconnect: false });
      const synced = nextEvent(again, "synced");
      await again.connect();
      await synced;

      const history = await allHistory(again, conv.id);
      // Contiguous from 1: a consistent snapshot, nothing half-written.
      expect(history.map((m) => m.seq)).toEqual(history.map((_, i) => i + 1));
      expect(history.length).toBeGreaterThanOrEqual(ackedBefore);
      expect(history.slice(0, 200).map(text)).toEqual(Array.from({ length: 200 }, (_, i) => `before ${i}`));
      expect(history.find((m) => m.seq === ackedBefore) && text(history.find((m) => m.seq === ackedBefore)!)).toBe("last before the backup");

      const convs = await again.conversations();
      expect(convs.find((c) => c.id === conv.id)!.members.find((m) => m.user === "b-bob")!.read).toBe(150);
      expect(convs.find((c) => c.id === group.id)!.title).toBe("backup club");

      const groupHistory = await allHistory(again, group.id);
      const withMedia = groupHistory.find((m) => m.media === media)!;
      expect(text(withMedia)).toBe("a picture");
      const dl = await again.mediaUrl(media);
      expect(new Uint8Array(await (await fetch(dl.url)).arrayBuffer())).toEqual(image);
      again.close();
    } finally {
      await server?.stop();
    }
  });

  test("refuses a non-empty target, a missing database and cluster backends, saying what to do", async () => {
    const full = join(scratch, "full");
    cpSync(join(scratch, "backup"), full, { recursive: true });
    expect(await backup(h.dataDir, full)).toMatchObject({ code: 1, stderr: expect.stringContaining("is not empty") });
    expect(await backup(join(scratch, "nowhere"), join(scratch, "b2"))).toMatchObject({ code: 1, stderr: expect.stringContaining("no database at") });
    const proc = Bun.spawn([process.execPath, "src/cli/main.ts", "backup", "--out", join(scratch, "b3")], {
      cwd: ROOT,
      env: { ...process.env, MSGR_SERVER_DATA_DIR: h.dataDir, MSGR_BACKENDS_METADATA: "postgres", MSGR_BACKENDS_MESSAGES: "postgres" },
      stderr: "pipe",
      stdout: "ignore",
    });
    expect(await proc.exited).toBe(1);
    expect(await new Response(proc.stderr).text()).toContain("pg_dump");
  });
});
