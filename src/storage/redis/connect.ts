// Opens an ioredis connection for a store that owns it.

import Redis, { type RedisOptions } from "ioredis";

/** What the Redis stores log: a pino Logger fits, and so does the console fallback. */
export interface WarnLog {
  warn(obj: object, msg: string): void;
}

export const consoleLog: WarnLog = { warn: (obj, msg) => console.warn(msg, obj) };

/**
 * Connects and checks the server answers, so a wrong URL fails at startup with the cause rather
 * than as a queue of commands that never complete. After that, ioredis reconnects on its own and
 * queues commands while the server is away (presence is soft state: a late heartbeat is fine).
 */
export async function connectRedis(url: string, log: WarnLog, connection: RedisOptions = {}): Promise<Redis> {
  // `connection`: credentials and TLS (src/connect/redis.ts).
  const redis = new Redis(url, { ...connection, lazyConnect: true });
  // ioredis emits an error for each failed (re)connect; without a listener it prints them as unhandled.
  let lastError: Error | undefined;
  redis.on("error", (err: Error) => {
    lastError = err;
    log.warn({ err: err.message }, "redis connection error");
  });
  try {
    await redis.connect();
    await redis.ping();
  } catch (err) {
    redis.disconnect();
    // connect() itself only says the connection closed; the error event has the cause.
    throw new Error(`cannot connect to Redis at ${redact(url)}: ${(lastError ?? (err as Error)).message}`);
  }
  return redis;
}

/** The URL without its password, fit for an error message that ends up in logs. */
function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "(unparsable URL)";
  }
}
