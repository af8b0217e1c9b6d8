// The terminal client's MLS state store: values survive a new instance (a restarted client),
// keys with "/" and ".." stay inside its directory, and nothing is readable by other users.

import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FileMlsStorage } from "../../src/cli/mls-file-storage.ts";

const root = mkdtempSync(join(tmpdir(), "msgr-mls-files-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

test("values are read back as written, by a new instance too; keys list by prefix; deletes stick", async () => {
  const dir = join(root, "a", "device");
  const s = new FileMlsStorage(dir);
  expect(await s.get("identity")).toBeNull();
  await s.put("identity", Uint8Array.of(1, 2, 3));
  await s.put("group/c1", Uint8Array.of(4));
  await s.put("group/c2", new Uint8Array(0));
  await s.put("group/c1", Uint8Array.of(5, 6)); // replaces
  await s.put("kp/../../escape", Uint8Array.of(7));
  const t = new FileMlsStorage(dir);
  expect(await t.get("identity")).toEqual(Uint8Array.of(1, 2, 3));
  expect(await t.get("group/c1")).toEqual(Uint8Array.of(5, 6));
  expect(await t.get("group/c2")).toEqual(new Uint8Array(0));
  expect((await t.keys("group/")).sort()).toEqual(["group/c1", "group/c2"]);
  expect(await t.keys("kp/")).toEqual(["kp/../../escape"]);
  await t.delete("group/c1");
  await t.delete("never-written");
  expect(await new FileMlsStorage(dir).get("group/c1")).toBeNull();
  // Every key is a file of the directory, and nothing was written outside it.
  expect(readdirSync(join(root, "a"))).toEqual(["device"]);
  expect(readdirSync(dir)).toHaveLength(3);
});

test("the directory and its files are private to the user", async () => {
  const dir = join(root, "private");
  const s = new FileMlsStorage(dir);
  await s.put("identity", Uint8Array.of(1));
  expect(statSync(dir).mode & 0o077).toBe(0);
  for (const f of readdirSync(dir)) expect(statSync(join(dir, f)).mode & 0o077).toBe(0);
});
