// What every edge of a test cluster must share (an edge in cluster mode refuses to start with a
// secret of its own: src/config/config.ts, unsharedInCluster): the files `msgr cluster-secrets`
// makes, and one local media directory, as settings and as the MSGR_* environment of a child edge.

import { join } from "node:path";
import { writeClusterSecrets } from "../../src/cli/cluster-secrets.ts";
import type { Config, DeepPartial } from "../../src/config/config.ts";

export interface SharedSecrets {
  /** The JWK Set every edge verifies tokens with (private: tests mint with it). */
  keysFile: string;
  config: DeepPartial<Config>;
  env: Record<string, string>;
}

/** Writes the shared key files under `dir` (each only if missing); media files go to `dir`/media. */
export async function sharedSecrets(dir: string): Promise<SharedSecrets> {
  const files = await writeClusterSecrets(join(dir, "secrets"));
  const mediaDir = join(dir, "media");
  return {
    keysFile: files.keys,
    config: { auth: { keysFile: files.keys }, media: { localDir: mediaDir, signingKeyFile: files.mediaKey }, push: { vapidKeysFile: files.vapid } },
    env: {
      MSGR_AUTH_KEYS_FILE: files.keys,
      MSGR_MEDIA_LOCAL_DIR: mediaDir,
      MSGR_MEDIA_SIGNING_KEY_FILE: files.mediaKey,
      MSGR_PUSH_VAPID_KEYS_FILE: files.vapid,
    },
  };
}
