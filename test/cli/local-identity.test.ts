// The terminal client's device id and the CLI's signing key are the server data directory's:
// one device per directory and user, and never a key of the CLI's own making.

import { afterAll, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureEmbeddedKeyring, loadKeyring } from "../../src/auth/keyring.ts";
import { verifyAccessToken } from "../../src/auth/tokens.ts";
import { stableDeviceId } from "../../src/cli/device-id.ts";
import { localSigningKey, mintWith, UsageError } from "../../src/cli/signing-key.ts";
import { testConfig } from "../helpers/harness.ts";

const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), "msgr-cli-id-"));
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

test("one stable device id per data directory and user", () => {
  const a = tempDir();
  const first = stableDeviceId(a, "alice");
  expect(first).toMatch(/^term-[0-9a-f]{8}$/);
  expect(stableDeviceId(a, "alice")).toBe(first);
  expect(stableDeviceId(a, "bob")).not.toBe(first);
  expect(stableDeviceId(tempDir(), "alice")).not.toBe(first);
});

test("without the server's key file the CLI refuses, names the path, and creates nothing", async () => {
  const dir = tempDir();
  const config = testConfig(join(dir, "data"));
  const err = await localSigningKey(config).catch((e) => e);
  expect(err).toBeInstanceOf(UsageError);
  expect(err.message).toContain(join(dir, "data", "jwks.json"));
  expect(err.message).toContain("MSGR_SERVER_DATA_DIR");
  expect(existsSync(join(dir, "data"))).toBe(false);
});

test("with it, tokens verify against the server's keyring and the file is named", async () => {
  const dataDir = tempDir();
  const file = await ensureEmbeddedKeyring(dataDir);
  const config = testConfig(dataDir);
  const key = await localSigningKey(config);
  expect(key.file).toBe(file);
  const token = await mintWith(key, config, "alice", "term-1", 60);
  const claims = await verifyAccessToken(token, await loadKeyring(file), { audience: config.auth.audience });
  expect(claims).toMatchObject({ user: "alice", device: "term-1" });
});
