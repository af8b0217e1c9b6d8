// One configuration: built-in defaults, then an optional TOML file, then environment variables.
// Every setting has an environment override named MSGR_<SECTION>_<KEY> in upper snake case,
// e.g. server.port -> MSGR_SERVER_PORT, limits.maxGroupSize -> MSGR_LIMITS_MAX_GROUP_SIZE.
// msgr.example.toml documents every key; keep it in step with DEFAULTS.

import { readFileSync } from "node:fs";

export interface Config {
  server: {
    host: string;
    port: number;
    /** 0..1023, the node field of message ids; unique per edge process in a cluster. */
    nodeId: number;
    dataDir: string;
    /** Browser origins allowed to open a WebSocket. A request without Origin (not a browser) is allowed. */
    allowedOrigins: string[];
    /** Several processes may listen on one port (SO_REUSEPORT). */
    reusePort: boolean;
  };
  auth: {
    /** JWK Set with the verification keys; empty: generate `<dataDir>/jwks.json` (embedded mode). */
    keysFile: string;
    audience: string;
    /** Required `iss` claim; empty: not checked. */
    issuer: string;
    clockToleranceSec: number;
    ticketTtlMs: number;
  };
  heartbeat: {
    /** How often clients send PING. */
    intervalMs: number;
    /** A connection with no frame for this long is closed as dead. */
    timeoutMs: number;
    /** A connection must send CONNECT within this time. */
    connectTimeoutMs: number;
  };
  limits: {
    maxFrameBytes: number;
    maxBodyBytes: number;
    maxGroupSize: number;
    /** Sustained SEND rate per user and node, and the burst above it. */
    sendPerSecond: number;
    sendBurst: number;
    /** Bytes queued to one socket before it is closed as a slow consumer. */
    socketBufferBytes: number;
    /** Protocol errors per connection within 10 s before the connection is closed as abusive. */
    maxProtocolErrors: number;
    /** Users one device may watch for presence. */
    maxPresenceWatch: number;
  };
  storage: {
    /** "full": an acked message survives power loss. "normal": it survives a process crash (SIGKILL), the last commits may be lost on power loss. */
    synchronous: "full" | "normal";
    /** Messages older than this are deleted; 0 keeps everything. Devices with older cursors are told to reset. */
    retentionSeconds: number;
  };
  actors: {
    /** An idle conversation actor is dropped from memory after this long. */
    conversationIdleMs: number;
  };
  shutdown: {
    /** Longest wait for in-flight commands during a drain. */
    drainTimeoutMs: number;
  };
  log: {
    level: string;
  };
  media: {
    /** "local": files under <dataDir>/media served by the edge with signed URLs; "minio": MinIO or any S3. */
    store: "local" | "minio";
    maxImageBytes: number;
    maxVideoBytes: number;
    maxDocumentBytes: number;
    uploadExpirySec: number;
    downloadExpirySec: number;
    /** Longest side of generated image thumbnails, in pixels. */
    thumbnailPx: number;
    /** Public base URL of this edge, used in local-store upload and download URLs; empty: http://<host>:<port>. */
    publicUrl: string;
  };
  minio: {
    endPoint: string;
    port: number;
    useSSL: boolean;
    accessKey: string;
    secretKey: string;
    bucket: string;
    region: string;
  };
  push: {
    enabled: boolean;
    /** VAPID contact, a mailto: or https: URL the push services may use to reach the operator. */
    subject: string;
    /** At most one push per device per this many ms; pushes in between collapse into one. */
    minIntervalMs: number;
    ttlSec: number;
    /** TESTS ONLY: push endpoint origins allowed despite the https/public-host rule (e.g. http://127.0.0.1:9000). */
    testAllowlist: string[];
  };
  /** Which backend serves each role. The defaults need nothing installed. */
  backends: {
    bus: "memory" | "nats";
    presence: "memory" | "redis";
    metadata: "sqlite" | "postgres";
    /** "jetstream": acked once in the JetStream log; write-behind workers (`msgr worker`) move it into Cassandra/ScyllaDB. */
    messages: "sqlite" | "postgres" | "jetstream";
  };
  nats: {
    servers: string[];
  };
  /** The message log (backends.messages = "jetstream"). The stream is created or updated on start. */
  jetstream: {
    stream: string;
    /** 3 in production: an ack then means a majority of three servers has the message on disk. */
    replicas: number;
    /** How long the log keeps messages; the store can be replayed or rebuilt from it within this time. */
    maxAgeSeconds: number;
    /** A resend with the same client id within this window is answered from the shard owner's memory of recent client ids. */
    duplicateWindowSeconds: number;
    /** Longest wait for one publish ack before the send fails with a retryable error. */
    publishTimeoutMs: number;
    /**
     * Conversations are hashed to this many shards, each a stream of its own with one owner edge
     * that group-commits its appends. Fixed when the log is created (a conversation's shard never changes).
     */
    shards: number;
    /** A shard whose owner stopped renewing its lease for this long is taken over by another edge. */
    leaseTtlMs: number;
  };
  /** History store for backends.messages = "jetstream" (Apache Cassandra or ScyllaDB). */
  cassandra: {
    /** host:port of a few nodes; the driver discovers the rest. */
    contactPoints: string[];
    localDataCenter: string;
    keyspace: string;
    /** Replicas per data center (NetworkTopologyStrategy in localDataCenter); 3 in production. */
    replicationFactor: number;
    /** "localQuorum" (default) or "localOne"/"one" for single-replica development only. */
    consistency: string;
    /** Per-query timeout. */
    requestTimeoutMs: number;
  };
  /** The write-behind worker role (`msgr worker`). */
  worker: {
    /** Durable consumer name; workers with the same name share the work. */
    consumer: string;
    /** Most messages per fetch and store write. */
    batchSize: number;
    /** Longest a fetch waits to fill a batch. */
    batchWaitMs: number;
    /** Batches being written to the store at once (the next fills while the store confirms the others). */
    writesInFlight: number;
    /** "batch": one unlogged batch per partition; "concurrent": one prepared statement per row, all in flight at once. */
    writeMode: "batch" | "concurrent";
    /** Backoff ceiling while the store is unavailable (messages stay in the log meanwhile). */
    maxRetryDelayMs: number;
    /** Entries a crashed worker held are redelivered to the others after this long. */
    ackWaitMs: number;
    /** /metrics and /healthz; 0 disables. */
    metricsPort: number;
    metricsHost: string;
  };
  redis: {
    url: string;
  };
  postgres: {
    url: string;
    poolSize: number;
  };
}

export const DEFAULTS: Config = {
  server: {
    host: "127.0.0.1",
    port: 8787,
    nodeId: 0,
    dataDir: "./data",
    allowedOrigins: [],
    reusePort: false,
  },
  auth: {
    keysFile: "",
    audience: "msgr",
    issuer: "",
    clockToleranceSec: 5,
    ticketTtlMs: 30_000,
  },
  heartbeat: {
    intervalMs: 30_000,
    timeoutMs: 60_000,
    connectTimeoutMs: 10_000,
  },
  limits: {
    maxFrameBytes: 128 * 1024,
    maxBodyBytes: 64 * 1024,
    maxGroupSize: 256,
    sendPerSecond: 50,
    sendBurst: 200,
    socketBufferBytes: 4 * 1024 * 1024,
    maxProtocolErrors: 20,
    maxPresenceWatch: 256,
  },
  storage: {
    synchronous: "full",
    retentionSeconds: 0,
  },
  actors: {
    conversationIdleMs: 5 * 60_000,
  },
  shutdown: {
    drainTimeoutMs: 10_000,
  },
  log: {
    level: "info",
  },
  media: {
    store: "local",
    maxImageBytes: 16 * 1024 * 1024,
    maxVideoBytes: 100 * 1024 * 1024,
    maxDocumentBytes: 100 * 1024 * 1024,
    uploadExpirySec: 300,
    downloadExpirySec: 300,
    thumbnailPx: 320,
    publicUrl: "",
  },
  minio: {
    endPoint: "127.0.0.1",
    port: 9000,
    useSSL: false,
    accessKey: "",
    secretKey: "",
    bucket: "msgr-media",
    region: "us-east-1",
  },
  push: {
    enabled: true,
    subject: "mailto:operator@example.invalid",
    minIntervalMs: 10_000,
    ttlSec: 86_400,
    testAllowlist: [],
  },
  backends: {
    bus: "memory",
    presence: "memory",
    metadata: "sqlite",
    messages: "sqlite",
  },
  nats: {
    servers: ["nats://127.0.0.1:4222"],
  },
  jetstream: {
    stream: "MSGR_LOG",
    replicas: 1,
    maxAgeSeconds: 7 * 86_400,
    duplicateWindowSeconds: 600,
    publishTimeoutMs: 5_000,
    shards: 8,
    leaseTtlMs: 5_000,
  },
  cassandra: {
    contactPoints: ["127.0.0.1:9042"],
    localDataCenter: "datacenter1",
    keyspace: "msgr",
    replicationFactor: 1,
    consistency: "localQuorum",
    requestTimeoutMs: 12_000,
  },
  worker: {
    consumer: "msgr-store-writer",
    batchSize: 512,
    batchWaitMs: 20,
    writesInFlight: 4,
    // Measured faster, and cheaper for Cassandra, on the durable bench (bench/README.md), though
    // by little: with traffic spread over many conversations a batch holds few rows per partition.
    writeMode: "batch",
    maxRetryDelayMs: 5_000,
    ackWaitMs: 30_000,
    metricsPort: 9465,
    metricsHost: "127.0.0.1",
  },
  redis: {
    url: "redis://127.0.0.1:6379",
  },
  postgres: {
    url: "postgres://msgr@127.0.0.1:5432/msgr",
    poolSize: 10,
  },
};

export type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? (T[K] extends unknown[] ? T[K] : DeepPartial<T[K]>) : T[K] };

export class ConfigError extends Error {}

function envName(path: string[]): string {
  return "MSGR_" + path.map((p) => p.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toUpperCase()).join("_");
}

function coerce(path: string[], def: unknown, raw: unknown, source: string): unknown {
  const where = `${path.join(".")} (${source})`;
  if (Array.isArray(def)) {
    if (typeof raw === "string") return raw === "" ? [] : raw.split(",").map((s) => s.trim());
    if (Array.isArray(raw) && raw.every((s) => typeof s === "string")) return raw;
    throw new ConfigError(`${where}: expected a list of strings`);
  }
  if (typeof def === "number") {
    const n = typeof raw === "string" ? Number(raw) : raw;
    if (typeof n !== "number" || !Number.isFinite(n)) throw new ConfigError(`${where}: expected a number`);
    return n;
  }
  if (typeof def === "boolean") {
    if (raw === true || raw === "true" || raw === "1") return true;
    if (raw === false || raw === "false" || raw === "0") return false;
    throw new ConfigError(`${where}: expected true or false`);
  }
  if (typeof raw !== "string") throw new ConfigError(`${where}: expected a string`);
  return raw;
}

function merge(def: Record<string, unknown>, over: Record<string, unknown> | undefined, env: Record<string, string | undefined>, path: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(over ?? {})) {
    if (!(key in def)) throw new ConfigError(`unknown setting ${[...path, key].join(".")}`);
  }
  for (const [key, dv] of Object.entries(def)) {
    const p = [...path, key];
    if (dv && typeof dv === "object" && !Array.isArray(dv)) {
      out[key] = merge(dv as Record<string, unknown>, over?.[key] as Record<string, unknown> | undefined, env, p);
      continue;
    }
    let v: unknown = dv;
    if (over && over[key] !== undefined) v = coerce(p, dv, over[key], "config file");
    const e = env[envName(p)];
    if (e !== undefined) v = coerce(p, dv, e, envName(p));
    out[key] = v;
  }
  return out;
}

function validate(c: Config): Config {
  const bad = (m: string) => {
    throw new ConfigError(m);
  };
  if (c.server.nodeId < 0 || c.server.nodeId > 1023 || !Number.isInteger(c.server.nodeId)) bad("server.nodeId must be an integer 0..1023");
  if (c.limits.maxGroupSize < 2 || c.limits.maxGroupSize > 4096) bad("limits.maxGroupSize must be 2..4096");
  if (c.limits.maxBodyBytes > c.limits.maxFrameBytes - 1024) bad("limits.maxBodyBytes must leave 1 KiB of room below limits.maxFrameBytes");
  if (c.heartbeat.timeoutMs <= c.heartbeat.intervalMs) bad("heartbeat.timeoutMs must exceed heartbeat.intervalMs");
  if (c.storage.synchronous !== "full" && c.storage.synchronous !== "normal") bad('storage.synchronous must be "full" or "normal"');
  const choices: Record<keyof Config["backends"], string[]> = {
    bus: ["memory", "nats"],
    presence: ["memory", "redis"],
    metadata: ["sqlite", "postgres"],
    messages: ["sqlite", "postgres", "jetstream"],
  };
  if (c.worker.writeMode !== "batch" && c.worker.writeMode !== "concurrent") bad('worker.writeMode must be "batch" or "concurrent"');
  if (!["localQuorum", "localOne", "one", "quorum", "all", "eachQuorum"].includes(c.cassandra.consistency)) bad("cassandra.consistency must be localQuorum, localOne, one, quorum, eachQuorum or all");
  if (![1, 3, 5].includes(c.jetstream.replicas)) bad("jetstream.replicas must be 1, 3 or 5");
  if (c.jetstream.duplicateWindowSeconds <= 0 || c.jetstream.duplicateWindowSeconds > c.jetstream.maxAgeSeconds) bad("jetstream.duplicateWindowSeconds must be positive and at most jetstream.maxAgeSeconds");
  if (!Number.isInteger(c.jetstream.shards) || c.jetstream.shards < 1 || c.jetstream.shards > 256) bad("jetstream.shards must be an integer 1..256");
  if (!(c.jetstream.leaseTtlMs >= 500)) bad("jetstream.leaseTtlMs must be at least 500");
  if (!Number.isInteger(c.worker.writesInFlight) || c.worker.writesInFlight < 1 || c.worker.writesInFlight > 64) bad("worker.writesInFlight must be an integer 1..64");
  if (c.media.store !== "local" && c.media.store !== "minio") bad('media.store must be "local" or "minio"');
  for (const [role, allowed] of Object.entries(choices)) {
    const v = c.backends[role as keyof Config["backends"]];
    if (!allowed.includes(v)) bad(`backends.${role} must be one of ${allowed.join(", ")}`);
  }
  return c;
}

/** Defaults <- `overrides` (a parsed file, or a test's settings) <- environment. */
export function resolveConfig(overrides: DeepPartial<Config> = {}, env: Record<string, string | undefined> = process.env): Config {
  return validate(merge(DEFAULTS as unknown as Record<string, unknown>, overrides as Record<string, unknown>, env, []) as unknown as Config);
}

export function loadConfig(file: string | undefined, env: Record<string, string | undefined> = process.env): Config {
  let parsed: DeepPartial<Config> = {};
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (e) {
      throw new ConfigError(`cannot read config file ${file}: ${(e as Error).message}`);
    }
    parsed = Bun.TOML.parse(text) as DeepPartial<Config>;
  }
  return resolveConfig(parsed, env);
}

/** Every environment variable the config understands, for docs and `--help`. */
export function environmentVariables(): string[] {
  const out: string[] = [];
  const walk = (o: Record<string, unknown>, path: string[]) => {
    for (const [k, v] of Object.entries(o)) {
      if (v && typeof v === "object" && !Array.isArray(v)) walk(v as Record<string, unknown>, [...path, k]);
      else out.push(envName([...path, k]));
    }
  };
  walk(DEFAULTS as unknown as Record<string, unknown>, []);
  return out;
}
