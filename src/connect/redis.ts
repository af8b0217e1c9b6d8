// How msgr connects to Redis: the ACL user, its password from a secret file, and TLS, from the
// `redis` settings (the URL keeps only where the server is).

import type { RedisOptions } from "ioredis";
import type { Config } from "../config/config.ts";
import { readPublicFile, readSecret } from "./files.ts";

/** ioredis options that add credentials and TLS to `redis.url`, reading the files now. */
export function redisClientOptions(config: Config, env: Record<string, string | undefined> = process.env): RedisOptions {
  const r = config.redis;
  const opts: RedisOptions = {};
  if (r.username) opts.username = r.username;
  if (r.passwordFile) opts.password = readSecret("redis.passwordFile", r.passwordFile, env);
  // rediss:// turns TLS on in ioredis by itself; tls = true does it for redis:// URLs too, and a CA
  // file adds the private CA to verify against (the server's name is checked either way).
  if (r.tls || r.url.startsWith("rediss:")) opts.tls = r.tlsCaFile ? { ca: readPublicFile("redis.tlsCaFile", r.tlsCaFile, env) } : {};
  return opts;
}

/**
 * The ACL rules (after `user NAME on <password>`) that give msgr what it uses and nothing more:
 * its keys (presence, last-seen, tickets; under `keyPrefix` if one is set), reads, writes and
 * scripts (presence changes are Lua scripts), no pub/sub channels, and none of the dangerous
 * commands (FLUSHALL, CONFIG, KEYS, DEBUG, ...) or the ones that drop scripts and functions. INFO stays (the client's ready check asks for it), and TIME (the scripts read the clock).
 */
export function redisAclRules(keyPrefix = ""): string {
  const keys = ["presence:*", "lastseen:*", "ticket:*"].map((k) => `~${keyPrefix}${k}`).join(" ");
  return `resetkeys ${keys} resetchannels -@all +@read +@write +@scripting +@connection -@dangerous -script|flush -script|kill -function +info +time`;
}
