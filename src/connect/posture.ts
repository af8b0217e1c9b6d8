// Which of a process's links to the engines are not authenticated or not encrypted, so that a
// cluster running without them says so at start rather than silently relying on the network.
// Embedded mode has no such links. docs/self-hosting.md (Security) explains each setting.

import type { Config } from "../config/config.ts";
import { hostOf } from "./tls.ts";

/** Traffic that never leaves the machine: TLS there protects against no one who could not read the processes anyway. */
const loopback = (addresses: string[]) => addresses.every((a) => ["localhost", "::1"].includes(hostOf(a)) || hostOf(a).startsWith("127."));

const hasPassword = (url: string) => {
  try {
    return new URL(url).password !== "";
  } catch {
    return false;
  }
};

/** One line per weakness, naming the setting that closes it; empty when every link is covered. Missing TLS to an engine on loopback is not one. */
export function unprotectedLinks(config: Config, role: "edge" | "worker"): string[] {
  const { backends: b, nats, redis, postgres, cassandra, minio } = config;
  const out: string[] = [];
  const usesNats = role === "worker" || b.bus === "nats" || b.messages === "jetstream";
  if (usesNats) {
    if (!nats.nkeyFile && !nats.credsFile) out.push("NATS without credentials (nats.nkeyFile): any process that reaches NATS can publish forged events and read every message in flight");
    if (!nats.tls && !loopback(nats.servers)) out.push("NATS without TLS (nats.tls): events and messages cross the network in clear");
  }
  if (role === "edge" && b.presence === "redis") {
    if (!redis.passwordFile && !hasPassword(redis.url)) out.push("Redis without a password (redis.passwordFile)");
    if (!redis.tls && !redis.url.startsWith("rediss:") && !loopback([redis.url])) out.push("Redis without TLS (redis.tls)");
    if (hasPassword(redis.url)) out.push("Redis password in redis.url: move it to a file (redis.passwordFile)");
  }
  if (role === "edge" && (b.metadata === "postgres" || b.messages === "postgres")) {
    if (!postgres.passwordFile && !hasPassword(postgres.url)) out.push("PostgreSQL without a password (postgres.passwordFile)");
    if (!postgres.tls && !loopback([postgres.url])) out.push("PostgreSQL without TLS (postgres.tls)");
    if (hasPassword(postgres.url)) out.push("PostgreSQL password in postgres.url: move it to a file (postgres.passwordFile)");
  }
  if (b.messages === "jetstream" || role === "worker") {
    if (!cassandra.username) out.push("Cassandra without authentication (cassandra.username, cassandra.passwordFile)");
    if (!cassandra.tls && !loopback(cassandra.contactPoints)) out.push("Cassandra without client-to-node encryption (cassandra.tls)");
  }
  if (role === "edge" && config.media.store === "minio") {
    if (!minio.useSSL && !loopback([minio.endPoint])) out.push("MinIO over plain HTTP (minio.useSSL)");
    if (minio.secretKey) out.push("MinIO secret key in the config: move it to a file (minio.secretKeyFile)");
  }
  return out;
}
