// `msgr cluster-secrets --dir DIR`: the key files every edge of a cluster must share, made once.
// An edge in cluster mode refuses to start with keys of its own (config.ts, unsharedInCluster),
// so these are what auth.keysFile, media.signingKeyFile and push.vapidKeysFile name.

import { join } from "node:path";
import { ensureEmbeddedKeyring } from "../auth/keyring.ts";
import { ensureMediaSigningKey } from "../media/open.ts";
import { ensureVapidKeys } from "../push/vapid.ts";

export interface ClusterSecretFiles {
  keys: string;
  mediaKey: string;
  vapid: string;
}

/** Creates (each only when missing) DIR/jwks.json, DIR/media.key and DIR/vapid.json, owner-only. */
export async function writeClusterSecrets(dir: string): Promise<ClusterSecretFiles> {
  const keys = await ensureEmbeddedKeyring(dir);
  const mediaKey = join(dir, "media.key");
  await ensureMediaSigningKey(mediaKey);
  await ensureVapidKeys(dir);
  return { keys, mediaKey, vapid: join(dir, "vapid.json") };
}
