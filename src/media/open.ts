// Opens the object store configured by `media.store`.

import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { mkdir, readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Config } from "../config/config.ts";
import { ConfigError } from "../config/config.ts";
import { readSecretBytes } from "../connect/files.ts";
import { createSecretTextFileOnce } from "../secret-file.ts";
import { LocalDiskObjectStore } from "./local-disk-store.ts";
import type { ObjectStore } from "./object-store.ts";

/** Shorter keys would make the HMAC of forms and URLs easier to forge than SHA-256 allows. */
const MIN_KEY_BYTES = 32;

/**
 * Makes `path` hold a new random signing key unless it exists (readable by its owner only;
 * processes starting together agree on one). Used for `<dataDir>/media.key` and by
 * `msgr cluster-secrets`.
 */
export async function ensureMediaSigningKey(path: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await createSecretTextFileOnce(path, randomBytes(MIN_KEY_BYTES));
}

/**
 * The local store's URL-signing secret: media.signingKeyFile (a secret file every edge of a
 * cluster reads), or else one made once per data directory.
 */
async function localSecret(config: Config): Promise<Uint8Array> {
  const configured = config.media.signingKeyFile;
  if (configured) {
    const key = readSecretBytes("media.signingKeyFile", configured);
    if (key.length < MIN_KEY_BYTES) throw new ConfigError(`media.signingKeyFile: the key must be at least ${MIN_KEY_BYTES} bytes, got ${key.length}`);
    return new Uint8Array(key);
  }
  const file = join(config.server.dataDir, "media.key");
  await ensureMediaSigningKey(file);
  return new Uint8Array(await readFile(file));
}

/** Where the local store keeps its objects: media.localDir, or <dataDir>/media. */
export function localMediaDir(config: Config): string {
  return config.media.localDir || join(config.server.dataDir, "media");
}

export async function openObjectStore(config: Config, baseUrl: () => string): Promise<ObjectStore> {
  if (config.media.store === "minio") {
    const [{ MinioObjectStore }, { minioClientOptions }] = await Promise.all([import("./minio-store.ts"), import("../connect/minio.ts")]);
    const m = config.minio;
    return MinioObjectStore.open({ endPoint: m.endPoint, port: m.port, useSSL: m.useSSL, accessKey: m.accessKey, bucket: m.bucket, region: m.region, ...minioClientOptions(config) });
  }
  const dir = localMediaDir(config);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return new LocalDiskObjectStore({ dir, secret: await localSecret(config), baseUrl });
}
