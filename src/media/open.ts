// Opens the object store configured by `media.store`.

import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Config } from "../config/config.ts";
import { LocalDiskObjectStore } from "./local-disk-store.ts";
import type { ObjectStore } from "./object-store.ts";

/** The local store's URL-signing secret: generated once per data directory, readable only by its owner. */
function localSecret(dataDir: string): Uint8Array {
  const file = join(dataDir, "media.key");
  try {
    return new Uint8Array(readFileSync(file));
  } catch {
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, randomBytes(32), { mode: 0o600, flag: "wx" });
    renameSync(tmp, file);
    return new Uint8Array(readFileSync(file));
  }
}

export async function openObjectStore(config: Config, baseUrl: () => string): Promise<ObjectStore> {
  if (config.media.store === "minio") {
    const [{ MinioObjectStore }, { minioClientOptions }] = await Promise.all([import("./minio-store.ts"), import("../connect/minio.ts")]);
    const m = config.minio;
    return MinioObjectStore.open({ endPoint: m.endPoint, port: m.port, useSSL: m.useSSL, accessKey: m.accessKey, bucket: m.bucket, region: m.region, ...minioClientOptions(config) });
  }
  const dir = join(config.server.dataDir, "media");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return new LocalDiskObjectStore({ dir, secret: localSecret(config.server.dataDir), baseUrl });
}
