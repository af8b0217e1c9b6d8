// VAPID key pair (RFC 8292) the server signs its Web Push requests with. Browsers bind each
// subscription to the public key they were given (applicationServerKey), so the pair must outlive
// restarts: it is generated once into `<dataDir>/vapid.json`, and every node of a cluster reads
// the same pair from push.vapidKeysFile instead (a push signed with another key is refused with 403).

import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { generateVAPIDKeys } from "web-push";
import { readSecret } from "../connect/files.ts";
import { createSecretFileOnce } from "../secret-file.ts";

export interface VapidKeys {
  /** Uncompressed P-256 point, base64url (65 bytes): the applicationServerKey clients subscribe with. */
  publicKey: string;
  /** P-256 private scalar, base64url (32 bytes). */
  privateKey: string;
}

/** The pair in the secret file push.vapidKeysFile (a path or credential:NAME), validated. */
export function readVapidKeysFile(ref: string): VapidKeys {
  const text = readSecret("push.vapidKeysFile", ref);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new Error(`push.vapidKeysFile: not JSON (${(err as Error).message})`);
  }
  return validated(doc, "push.vapidKeysFile");
}

/** Returns `configured` when given (after validating it), else the pair in `<dataDir>/vapid.json`, made on first use. */
export async function ensureVapidKeys(dataDir: string, configured?: VapidKeys): Promise<VapidKeys> {
  if (configured) return validated(configured, "configured VAPID keys");
  const path = join(dataDir, "vapid.json");
  const existing = await readKeys(path);
  if (existing) return existing;

  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const { publicKey, privateKey } = generateVAPIDKeys();
  // Two nodes starting together on one data dir agree on the winner's pair.
  await createSecretFileOnce(path, { publicKey, privateKey });
  const stored = await readKeys(path);
  if (!stored) throw new Error(`${path}: vanished right after it was written`);
  return stored;
}

async function readKeys(path: string): Promise<VapidKeys | null> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw err;
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new Error(`${path}: not JSON (${(err as Error).message})`);
  }
  return validated(doc, path);
}

/** Checks the shapes web-push expects, so a damaged file fails at startup rather than on every push. */
function validated(doc: unknown, where: string): VapidKeys {
  const { publicKey, privateKey } = (doc ?? {}) as Partial<Record<keyof VapidKeys, unknown>>;
  const pub = typeof publicKey === "string" ? Buffer.from(publicKey, "base64url") : null;
  const priv = typeof privateKey === "string" ? Buffer.from(privateKey, "base64url") : null;
  if (!pub || pub.length !== 65 || pub[0] !== 0x04) {
    throw new Error(`${where}: publicKey must be an uncompressed P-256 point in base64url (65 bytes)`);
  }
  if (!priv || priv.length !== 32) throw new Error(`${where}: privateKey must be 32 bytes in base64url`);
  return { publicKey: publicKey as string, privateKey: privateKey as string };
}
