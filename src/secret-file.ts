// Writes a generated secret (a signing key, a VAPID pair) to a file that must be created exactly
// once, even when several processes start together on one data directory.

import { randomBytes } from "node:crypto";
import { link, unlink, writeFile } from "node:fs/promises";

/**
 * Creates `path` with `value` as JSON, readable by the owner only, unless it exists. Written
 * aside and linked into place: the link fails if the file appeared meanwhile, so racing
 * processes agree on the first one's content, and no reader ever sees a half-written file.
 * The caller reads the file afterwards to learn which content won.
 */
export async function createSecretFileOnce(path: string, value: unknown): Promise<void> {
  await createSecretTextFileOnce(path, `${JSON.stringify(value, null, 2)}\n`);
}

/** createSecretFileOnce for a secret that is text or bytes already (an nkey seed, a password, a key). */
export async function createSecretTextFileOnce(path: string, text: string | Uint8Array): Promise<void> {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  await writeFile(tmp, text, { mode: 0o600, flag: "wx" });
  try {
    await link(tmp, path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
  } finally {
    await unlink(tmp);
  }
}
