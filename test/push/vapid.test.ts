import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateVAPIDKeys } from "web-push";
import { ensureVapidKeys } from "../../src/push/vapid.ts";

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "msgr-vapid-"));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe("ensureVapidKeys", () => {
  test("generates once into vapid.json, readable by the owner only, and keeps it", async () => {
    const dir = join(tempDir(), "data");
    const first = await ensureVapidKeys(dir);
    expect(Buffer.from(first.publicKey, "base64url")).toHaveLength(65);
    expect(Buffer.from(first.privateKey, "base64url")).toHaveLength(32);
    expect(statSync(join(dir, "vapid.json")).mode & 0o777).toBe(0o600);
    expect(await ensureVapidKeys(dir)).toEqual(first);
    expect(readdirSync(dir)).toEqual(["vapid.json"]);
  });

  test("concurrent first starts agree on one pair", async () => {
    const dir = tempDir();
    const pairs = await Promise.all(Array.from({ length: 8 }, () => ensureVapidKeys(dir)));
    for (const p of pairs) expect(p).toEqual(pairs[0]!);
  });

  test("configured keys are used as given, without touching the data dir", async () => {
    const dir = tempDir();
    const configured = generateVAPIDKeys();
    expect(await ensureVapidKeys(dir, configured)).toEqual(configured);
    expect(readdirSync(dir)).toEqual([]);
    await expect(ensureVapidKeys(dir, { ...configured, publicKey: "AAAA" })).rejects.toThrow("publicKey");
  });

  test("a damaged vapid.json fails loudly instead of being replaced", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "vapid.json"), "{not json");
    await expect(ensureVapidKeys(dir)).rejects.toThrow("not JSON");
    writeFileSync(join(dir, "vapid.json"), JSON.stringify({ publicKey: generateVAPIDKeys().publicKey }));
    await expect(ensureVapidKeys(dir)).rejects.toThrow("privateKey");
  });
});
