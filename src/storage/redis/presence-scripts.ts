// Lua scripts behind RedisPresenceStore (the data model is described in presence-store.ts).
// Every multi-step change to a user runs as one script, so two nodes updating the same user are
// serialized by Redis and exactly one of them sees each offline/online transition. Scripts read
// the clock with TIME: expiry is judged by the Redis server's clock alone, so nodes whose clocks
// disagree still agree on who has expired. Every key a script touches is passed in KEYS.

import type Redis from "ioredis";

const PRELUDE = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Called after a change that left the user with entries: the active index holds the latest
-- expiry (the moment the sweep must look at the user again), and the key's own TTL outlives it
-- by one ttl, as a backstop should no sweep ever run.
local function track(pkey, akey, user, ttl)
  local latest = tonumber(redis.call('ZRANGE', pkey, -1, -1, 'WITHSCORES')[2])
  redis.call('ZADD', akey, latest, user)
  redis.call('PEXPIREAT', pkey, latest + ttl)
end

-- Drops expired entries and returns how many live ones remain. When none remain but the user is
-- still in the active index, every entry expired and no one has claimed that yet: this call
-- claims it (last seen = the expiry) so that no sweep reports it later.
local function settle(pkey, lkey, akey, user, now)
  redis.call('ZREMRANGEBYSCORE', pkey, '-inf', now)
  local live = redis.call('ZCARD', pkey)
  if live == 0 then
    local expiry = redis.call('ZSCORE', akey, user)
    if expiry then
      redis.call('ZREM', akey, user)
      redis.call('SET', lkey, string.format('%d', math.min(tonumber(expiry), now)))
    end
  end
  return live
end
`;

/** KEYS: presence, lastseen, active. ARGV: user, member, ttl. Returns 1 when the user had no live entry. */
const UP = `
local now = now_ms()
local ttl = tonumber(ARGV[3])
local live = settle(KEYS[1], KEYS[2], KEYS[3], ARGV[1], now)
redis.call('ZADD', KEYS[1], now + ttl, ARGV[2])
track(KEYS[1], KEYS[3], ARGV[1], ttl)
if live == 0 then return 1 end
return 0
`;

/**
 * KEYS: presence, lastseen, active. ARGV: user, member, ttl, lastSeen. Returns 1 when this took
 * the user's last live entry. An entry that had expired unnoticed still counts as the one that
 * leaves: its removal is the first to notice the user is gone, so it reports the transition.
 */
const DOWN = `
if redis.call('ZREM', KEYS[1], ARGV[2]) == 0 then return 0 end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now_ms())
if redis.call('ZCARD', KEYS[1]) > 0 then
  track(KEYS[1], KEYS[3], ARGV[1], tonumber(ARGV[3]))
  return 0
end
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('SET', KEYS[2], ARGV[4])
return 1
`;

/** KEYS: active. ARGV: limit. Users whose latest expiry has passed (claim each to be sure). */
const DUE = `
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now_ms(), 'LIMIT', 0, ARGV[1])
`;

/**
 * KEYS: presence, lastseen, active. ARGV: user, ttl. Returns the last-seen time when this call
 * took the user offline by expiry, 0 when someone else already did or a device is live again.
 */
const CLAIM = `
if not redis.call('ZSCORE', KEYS[3], ARGV[1]) then return 0 end
if settle(KEYS[1], KEYS[2], KEYS[3], ARGV[1], now_ms()) > 0 then
  track(KEYS[1], KEYS[3], ARGV[1], tonumber(ARGV[2]))
  return 0
end
return tonumber(redis.call('GET', KEYS[2]))
`;

/**
 * KEYS: presence and lastseen of each user, in pairs. Returns online (1/0) and last seen per
 * user. A user whose entries all expired reads as offline, seen at the latest expiry, even before
 * a sweep has claimed them.
 */
const GET = `
local now = now_ms()
local out = {}
for i = 1, #KEYS, 2 do
  local online = redis.call('ZCOUNT', KEYS[i], string.format('(%d', now), '+inf') > 0
  local seen = tonumber(redis.call('GET', KEYS[i + 1]) or 0)
  if not online then
    local latest = redis.call('ZRANGE', KEYS[i], -1, -1, 'WITHSCORES')[2]
    if latest then seen = math.max(seen, tonumber(latest)) end
  end
  out[#out + 1] = online and 1 or 0
  out[#out + 1] = seen
end
return out
`;

/** KEYS: presence. The members (device|node) that have not expired. */
const LIVE = `
return redis.call('ZRANGEBYSCORE', KEYS[1], string.format('(%d', now_ms()), '+inf')
`;

type Arg = string | number;
type Script<R> = (keys: string[], args: Arg[]) => Promise<R>;

export interface PresenceScripts {
  up: Script<number>;
  down: Script<number>;
  due: Script<string[]>;
  claim: Script<number>;
  get: Script<number[]>;
  live: Script<string[]>;
}

/**
 * Registers the scripts on a connection (ioredis sends EVALSHA and falls back to EVAL after a
 * NOSCRIPT, so a restarted Redis with an empty script cache is handled) and returns typed callers.
 */
export function presenceScripts(redis: Redis): PresenceScripts {
  const define = <R>(name: string, body: string, readOnly = false): Script<R> => {
    const command = `msgrPresence${name}`;
    // Without numberOfKeys the key count is the first argument, which lets GET take any number.
    redis.defineCommand(command, { lua: PRELUDE + body, readOnly });
    // defineCommand adds the method at run time, so its type is not known to the compiler.
    const call = (redis as unknown as Record<string, (...args: Arg[]) => Promise<R>>)[command]!;
    return (keys, args) => call.call(redis, keys.length, ...keys, ...args);
  };
  return {
    up: define("Up", UP),
    down: define("Down", DOWN),
    due: define("Due", DUE, true),
    claim: define("Claim", CLAIM),
    get: define("Get", GET, true),
    live: define("Live", LIVE, true),
  };
}
