// Which key the CLI mints tokens with (`token`, `chat`, `revoke`). Only the server makes keys:
// a token signed with a key the server does not have is refused at the upgrade, so a missing
// key file here is an error that says where the server's is, never a reason to make a new one.

import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { loadSigningKey, type SigningKey } from "../auth/keyring.ts";
import { mintAccessToken } from "../auth/tokens.ts";
import type { Config } from "../config/config.ts";

/** A user mistake the CLI reports as one line with what to do, exiting 2. */
export class UsageError extends Error {}

export interface LocalSigningKey extends SigningKey {
  /** Absolute path of the JWK Set it came from. */
  file: string;
}

/** The key file the server with this config verifies tokens with. */
export function signingKeyFile(config: Config): string {
  return resolve(config.auth.keysFile || join(config.server.dataDir, "jwks.json"));
}

export async function localSigningKey(config: Config): Promise<LocalSigningKey> {
  const file = signingKeyFile(config);
  if (!existsSync(file)) {
    if (config.auth.keysFile) throw new UsageError(`auth.keysFile ${file} does not exist`);
    throw new UsageError(
      `no server key at ${file}. Tokens must be signed with the key of the server that checks them, ` +
        `which \`msgr start\` creates in its data directory (server.dataDir, default ./data). ` +
        `Run this in the directory where the server runs, or point MSGR_SERVER_DATA_DIR (or --config) at its data directory.`,
    );
  }
  return { ...(await loadSigningKey(file)), file };
}

export function mintWith(key: SigningKey, config: Config, user: string, device: string, ttlSec: number, admin = false): Promise<string> {
  return mintAccessToken(key, { user, device, ttlSec, admin, audience: config.auth.audience, issuer: config.auth.issuer || undefined });
}
