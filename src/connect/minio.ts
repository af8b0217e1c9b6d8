// How msgr connects to MinIO (or any S3): the secret key from a secret file and, over HTTPS, the
// private CA that signed the server's certificate, from the `minio` settings.

import { Agent } from "node:https";
import type { Config } from "../config/config.ts";
import { readPublicFile, readSecret } from "./files.ts";

export interface MinioConnection {
  secretKey: string;
  /** Set when a private CA must verify the server (minio.tlsCaFile). */
  transportAgent?: Agent;
}

/** The secret key and TLS agent, reading the files now. */
export function minioClientOptions(config: Config, env: Record<string, string | undefined> = process.env): MinioConnection {
  const m = config.minio;
  const secretKey = m.secretKeyFile ? readSecret("minio.secretKeyFile", m.secretKeyFile, env) : m.secretKey;
  if (!m.useSSL || !m.tlsCaFile) return { secretKey };
  // keepAlive as the client's default agent has it; the certificate and the host name are checked.
  return { secretKey, transportAgent: new Agent({ keepAlive: true, ca: readPublicFile("minio.tlsCaFile", m.tlsCaFile, env), rejectUnauthorized: true }) };
}
