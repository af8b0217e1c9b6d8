// Opens an ioredis connection for a store that owns it.

import Redis, { type RedisOptions } from "ioredis";

/** What the Redis stores log: a pino Logger fits, and so does the console fallback. */
export interface WarnLog {
  warn(obj: object, msg: string): void;
}

export const consoleLog: WarnLog = { warn: (obj, msg) => console.warn(msg, obj) };

/**
 * How long a connection with commands in flight may stay silent before it is taken for dead
 * (ioredis `socketTimeout`): the socket is destroyed, the commands in flight fail, and ioredis
 * reconnects. A connection can die without a close. In the cluster test, after redis-server
 * restarted, one edge's connection of four never saw its close, and every command on it waited
 * forever: its heartbeats, so that edge's devices read as offline for good, with nothing logged.
 * Commands here take milliseconds; a loaded machine stalls for a second or two, not five.
 */
export const SOCKET_TIMEOUT_MS = 5_000;

/**
 * Connects and checks the server answers, so a wrong URL fails at startup with the cause rather
 * than as a queue of commands that never complete. After that, ioredis reconnects on its own and
 * queues commands while the server is away (presence is soft state: a late heartbeat is fine),
 * also after a connection that went silent (SOCKET_TIMEOUT_MS).
 */
export async function connectRedis(url: string, log: WarnLog, connection: RedisOptions = {}): Promise<Redis> {
  // `connection`: credentials and TLS (src/connect/redis.ts).
  const redis = new Redis(url, { socketTimeout: SOCKET_TIMEOUT_MS, ...connection, lazyConnect: true });
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
