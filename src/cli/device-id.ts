// The terminal client's device id: one per data directory and user, kept in
// `<dataDir>/cli-devices.json`, so restarting `msgr chat` resumes as the same device instead of
// registering a new permanent one each time (devices are listed, revoked and synced per id).

import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const FILE = "cli-devices.json";

/** The stored device id of `user`, or a new one (`term-<hex>`) stored for next time. */
export function stableDeviceId(dataDir: string, user: string): string {
  const path = join(dataDir, FILE);
  let devices: Record<string, string> = {};
  try {
    const parsed = JSON.parse(readFileSync(path, "utf8")) as unknown;
    if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) devices = parsed as Record<string, string>;
  } catch {
    // Missing or unreadable: start a new map (an unreadable one is replaced).
  }
  const known = devices[user];
  if (typeof known === "string" && known) return known;
  const id = `term-${randomBytes(4).toString("hex")}`;
  devices[user] = id;
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  // Write-then-rename: a crash mid-write leaves the old file, not half a file.
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(devices, null, 2) + "\n", { mode: 0o600 });
  renameSync(tmp, path);
  return id;
}
