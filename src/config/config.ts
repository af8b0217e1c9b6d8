// One configuration: built-in defaults, then an optional TOML file, then environment variables.
// Every setting has an environment override named MSGR_<SECTION>_<KEY> in upper snake case,
// e.g. server.port -> MSGR_SERVER_PORT, limits.maxGroupSize -> MSGR_LIMITS_MAX_GROUP_SIZE.
// msgr.example.toml documents every key; keep it in step with DEFAULTS.

import { readFileSync } from "node:fs";

export interface RateLimit {
  perSecond: number;
  burst: number;
}

/** The commands that share one per-user rate (docs/protocol.md, limits). */
export type RateClass =
  | "send"
  | "receipt"
  | "typing"
  | "presence"
  | "conversations"
  | "directOpen"
  | "groupCreate"
  | "groupChange"
  | "history"
  | "sync"
  | "devices"
  | "mediaUpload"
  | "mediaUrl"
  | "push"
  | "privacy"
  | "report"
  | "delete"
  | "settings"
  | "e2ee";

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
    /** PEM certificate chain; with tlsKeyFile the edge serves https:// and wss:// itself. Reloaded on SIGHUP or when the file changes. */
    tlsCertFile: string;
    /** PEM private key of tlsCertFile (a secret file: a path or credential:NAME). */
    tlsKeyFile: string;
  };
  auth: {
    /** JWK Set with the verification keys; empty: generate `<dataDir>/jwks.json` (embedded mode). */
    keysFile: string;
    audience: string;
    /** Required `iss` claim; empty: not checked. */
    issuer: string;
    clockToleranceSec: number;
    ticketTtlMs: number;
    /** Longest lifetime (exp - iat, or exp - now without iat) of an access token the edge accepts. */
    maxTokenLifetimeSec: number;
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
    /** Bytes queued to one socket before it is closed as a slow consumer. */
    socketBufferBytes: number;
    /** Protocol errors per connection within 10 s before the connection is closed as abusive. */
    maxProtocolErrors: number;
    /** Users one device may watch for presence. */
    maxPresenceWatch: number;
    /** Commands of one connection being handled at once; more are refused with RateLimited. */
    maxInflightPerConnection: number;
    /** Commands per second one connection may send (every method), and the burst above it. */
    commandsPerSecond: number;
    commandsBurst: number;
    /** Commands refused with RateLimited per connection within 10 s before it is closed (4005) as flooding. */
    maxRefusedCommands: number;
    /** Devices a user may have (revoked ones do not count); a new device beyond it is refused at upgrade. */
    maxDevicesPerUser: number;
    /** Entries in one user's contact list. */
    maxContacts: number;
    /** Users one user may block. */
    maxBlocked: number;
  };
  /** The user registry: a user exists once provisioned through the admin API or first authenticated. */
  users: {
    /** Refuse (1100) commands naming users that do not exist, instead of accepting any id. */
    requireRegistered: boolean;
  };
  /**
   * Per-user command rates, each a token bucket of `perSecond` sustained and `burst` at once, per
   * user and edge process. A command over its rate is refused with RateLimited and retryAfterMs.
   */
  rates: Record<RateClass, RateLimit>;
  storage: {
    /** "full": an acked message survives power loss. "normal": it survives a process crash (SIGKILL), the last commits may be lost on power loss. */
    synchronous: "full" | "normal";
    /** Messages older than this are deleted; 0 keeps everything. Devices with older cursors are told to reset. */
    retentionSeconds: number;
    /** How often stores that prune (SQLite, PostgreSQL) delete disappearing messages whose time has come. */
    expirySweepMs: number;
  };
  /** The message lifecycle: edits and deletes for everyone. */
  messages: {
    /** A sender may edit a message this long after sending it. */
    editWindowSec: number;
    /** A sender may delete a message for everyone this long after sending it; 0: any time. Group admins may always. */
    deleteWindowSec: number;
  };
  actors: {
    /** An idle conversation actor is dropped from memory after this long. */
    conversationIdleMs: number;
  };
  shutdown: {
    /** Longest wait for in-flight commands during a drain. */
    drainTimeoutMs: number;
    /** On SIGTERM, /readyz answers 503 for this long before the drain starts, so load balancers stop routing here first. */
    drainDelayMs: number;
  };
  /** Prometheus /metrics. */
  metrics: {
    /** "": served at /metrics on the main listener; "host:port": on a listener of its own (port 0: any free port). */
    listen: string;
    /** When set, /metrics requires `Authorization: Bearer <token>` (the worker's too). */
    token: string;
  };
  /** OpenTelemetry traces of each message's stages (accepted -> durable, routed, delivered, read), exported over OTLP/HTTP. */
  tracing: {
    enabled: boolean;
    /** OTLP/HTTP traces URL of a collector. */
    endpoint: string;
    serviceName: string;
    /** Share of messages traced, 0..1; decided per message, so every node traces the same ones. */
    sampleRatio: number;
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
    /** How long an upload form works. */
    uploadExpirySec: number;
    downloadExpirySec: number;
    /** An upload not sent in a message this long after MEDIA_UPLOAD is deleted (at least uploadExpirySec). */
    unattachedTtlSec: number;
    /** Upload slots one user may hold that are neither sent nor expired. */
    maxPendingUploads: number;
    /** Bytes one user may announce in MEDIA_UPLOAD per UTC day, used or not; at least the largest per-type limit. */
    maxUploadBytesPerDay: number;
    /** How often expired upload slots are cleared. */
    sweepIntervalMs: number;
    /** Longest side of generated image thumbnails, in pixels. */
    thumbnailPx: number;
    /** Public base URL of this edge, used in local-store upload and download URLs; empty: http://<host>:<port>. */
    publicUrl: string;
    /** Where the local store keeps objects; empty: <dataDir>/media. In a cluster, a directory every edge shares. */
    localDir: string;
    /**
     * Secret file (32+ bytes) that signs the local store's upload forms and download URLs; empty:
     * <dataDir>/media.key, made on first start. In a cluster, one file every edge reads.
     */
    signingKeyFile: string;
  };
  minio: {
    endPoint: string;
    port: number;
    useSSL: boolean;
    accessKey: string;
    /** Prefer secretKeyFile: a secret in the config file is readable by whoever reads the config. */
    secretKey: string;
    /** Secret file with the secret key. */
    secretKeyFile: string;
    bucket: string;
    region: string;
    /** CA bundle (PEM) that signed the server's certificate (with useSSL); empty: the system's CAs. */
    tlsCaFile: string;
  };
  push: {
    enabled: boolean;
    /** VAPID contact, a mailto: or https: URL the push services may use to reach the operator. */
    subject: string;
    /**
     * Secret file with the VAPID key pair, JSON {publicKey, privateKey} (base64url); empty:
     * <dataDir>/vapid.json, made on first start. In a cluster, one file every edge reads.
     */
    vapidKeysFile: string;
    /** At most one push per device per this many ms; pushes in between collapse into one. */
    minIntervalMs: number;
    ttlSec: number;
    /** TESTS ONLY: push endpoint origins allowed despite the https/public-host rule (e.g. http://127.0.0.1:9000). */
    testAllowlist: string[];
    /** Attempts after a push the service answered 429/5xx (or that failed in transit), with exponential backoff. */
    retryAttempts: number;
    retryBaseMs: number;
    retryMaxMs: number;
    /** Extra CA certificates (PEM file) trusted for APNs and FCM connections, e.g. a TLS-inspecting proxy's; "": the system's. */
    caFile: string;
    /** Apple Push Notification service, token-based (a .p8 signing key); off while keyFile is empty. */
    apns: {
      keyFile: string;
      keyId: string;
      teamId: string;
      /** The app's bundle id (apns-topic). */
      topic: string;
      /** https://api.push.apple.com, or https://api.sandbox.push.apple.com for development builds. */
      url: string;
    };
    /** Firebase Cloud Messaging HTTP v1; off while serviceAccountFile is empty. */
    fcm: {
      /** The service account's JSON key (project_id, client_email, private_key, token_uri). */
      serviceAccountFile: string;
      url: string;
    };
  };
  /** End-to-end encryption: the MLS delivery service (src/e2ee, docs/protocol.md §16). */
  e2ee: {
    /**
     * Application messages may be this many epochs older than the group's current epoch; older
     * ones are refused (EpochStale). Members keep the keys of this many past epochs (the SDK's
     * retention matches), so a message the server accepts can still be read.
     */
    epochWindow: number;
    /** KeyPackages one device may hold (its last-resort one aside). */
    maxKeyPackagesPerDevice: number;
    /** When a claim leaves a device with this many KeyPackages or fewer, its user's devices are told (KEY_PACKAGES push). */
    keyPackagesLowWater: number;
  };
  /** The browser app the edge serves (src/web), for trying msgr and for development. */
  web: {
    /** "auto": served in embedded mode (auth.keysFile empty, the server makes its own key); "on"; "off". */
    app: "auto" | "on" | "off";
    /** Where the app is served, e.g. "/app". */
    path: string;
    /**
     * Development sign-in: the app mints a token for any user name, with no password. For trying
     * msgr only; real apps get tokens from the operator's auth service. "auto": on in embedded mode
     * when server.host is a loopback address, off otherwise; "on"; "off".
     */
    devSignIn: "auto" | "on" | "off";
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
    /** NKey seed file (a secret): the process authenticates as that nkey user. Empty: no credentials. */
    nkeyFile: string;
    /** NATS user credentials file (JWT and seed, from `nsc`), for servers in operator mode; instead of nkeyFile. */
    credsFile: string;
    /** Require TLS to the servers, verifying their certificates. */
    tls: boolean;
    /** CA bundle (PEM) that signed the servers' certificates; empty: the system's CAs. */
    tlsCaFile: string;
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
    /** Role to log in as (PasswordAuthenticator); empty: no authentication. */
    username: string;
    /** Secret file with the role's password. */
    passwordFile: string;
    /** Client-to-node encryption: require TLS, verifying the nodes' certificates. */
    tls: boolean;
    /** CA bundle (PEM) that signed the nodes' certificates; empty: the system's CAs. */
    tlsCaFile: string;
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
    /** redis://host:port (rediss:// also turns TLS on). Keep passwords out of it: use passwordFile. */
    url: string;
    /** ACL user; empty: "default". */
    username: string;
    /** Secret file with the user's password. */
    passwordFile: string;
    /** Require TLS, verifying the server's certificate. */
    tls: boolean;
    /** CA bundle (PEM) that signed the server's certificate; empty: the system's CAs. */
    tlsCaFile: string;
  };
  postgres: {
    /** postgres://user@host:port/database. Keep passwords out of it: use passwordFile. */
    url: string;
    poolSize: number;
    /**
     * The server cancels a statement of the serving pool that runs, or waits for a lock, longer
     * than this (PostgreSQL's statement_timeout), and a transaction left idle this long
     * (idle_in_transaction_session_timeout): the command fails as retryable instead of waiting
     * without end. Milliseconds; 0 turns both off. Migrations are not bound by it.
     */
    statementTimeoutMs: number;
    /** Secret file with the role's password (scram-sha-256 on the server). */
    passwordFile: string;
    /** Require TLS, verifying the server's certificate and name. */
    tls: boolean;
    /** CA bundle (PEM) that signed the server's certificate; empty: the system's CAs. */
    tlsCaFile: string;
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
    tlsCertFile: "",
    tlsKeyFile: "",
  },
  auth: {
    keysFile: "",
    audience: "msgr",
    issuer: "",
    clockToleranceSec: 5,
    ticketTtlMs: 30_000,
    maxTokenLifetimeSec: 7 * 86_400,
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
    socketBufferBytes: 4 * 1024 * 1024,
    maxProtocolErrors: 20,
    maxPresenceWatch: 256,
    maxInflightPerConnection: 64,
    commandsPerSecond: 200,
    commandsBurst: 500,
    maxRefusedCommands: 200,
    maxDevicesPerUser: 16,
    maxContacts: 5000,
    maxBlocked: 1000,
  },
  users: {
    requireRegistered: false,
  },
  rates: {
    send: { perSecond: 50, burst: 200 },
    receipt: { perSecond: 50, burst: 200 },
    typing: { perSecond: 4, burst: 8 },
    presence: { perSecond: 1, burst: 10 },
    conversations: { perSecond: 10, burst: 50 },
    directOpen: { perSecond: 2, burst: 20 },
    groupCreate: { perSecond: 0.2, burst: 5 },
    groupChange: { perSecond: 2, burst: 30 },
    history: { perSecond: 10, burst: 40 },
    sync: { perSecond: 1, burst: 5 },
    devices: { perSecond: 1, burst: 10 },
    mediaUpload: { perSecond: 1, burst: 10 },
    mediaUrl: { perSecond: 20, burst: 100 },
    push: { perSecond: 0.5, burst: 5 },
    privacy: { perSecond: 2, burst: 30 },
    report: { perSecond: 0.1, burst: 5 },
    delete: { perSecond: 5, burst: 50 },
    settings: { perSecond: 5, burst: 50 },
    // Uploads, claims and commits: a device uploads a batch now and then, and a commit (with its
    // claim) follows each membership change; claims drain others' KeyPackages, so they stay scarce.
    e2ee: { perSecond: 2, burst: 40 },
  },
  storage: {
    synchronous: "full",
    retentionSeconds: 0,
    expirySweepMs: 1_000,
  },
  messages: {
    editWindowSec: 15 * 60,
    deleteWindowSec: 2 * 86_400,
  },
  actors: {
    conversationIdleMs: 5 * 60_000,
  },
  shutdown: {
    drainTimeoutMs: 10_000,
    drainDelayMs: 0,
  },
  metrics: {
    listen: "",
    token: "",
  },
  tracing: {
    enabled: false,
    endpoint: "http://127.0.0.1:4318/v1/traces",
    serviceName: "msgr",
    sampleRatio: 1,
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
    unattachedTtlSec: 3600,
    maxPendingUploads: 50,
    maxUploadBytesPerDay: 2 * 1024 * 1024 * 1024,
    sweepIntervalMs: 60_000,
    thumbnailPx: 320,
    publicUrl: "",
    localDir: "",
    signingKeyFile: "",
  },
  minio: {
    endPoint: "127.0.0.1",
    port: 9000,
    useSSL: false,
    accessKey: "",
    secretKey: "",
    secretKeyFile: "",
    bucket: "msgr-media",
    region: "us-east-1",
    tlsCaFile: "",
  },
  push: {
    enabled: true,
    subject: "mailto:operator@example.invalid",
    vapidKeysFile: "",
    minIntervalMs: 10_000,
    ttlSec: 86_400,
    testAllowlist: [],
    retryAttempts: 5,
    retryBaseMs: 1_000,
    retryMaxMs: 60_000,
    caFile: "",
    apns: {
      keyFile: "",
      keyId: "",
      teamId: "",
      topic: "",
      url: "https://api.push.apple.com",
    },
    fcm: {
      serviceAccountFile: "",
      url: "https://fcm.googleapis.com",
    },
  },
  e2ee: {
    epochWindow: 3,
    maxKeyPackagesPerDevice: 200,
    keyPackagesLowWater: 10,
  },
  web: {
    app: "auto",
    path: "/app",
    devSignIn: "auto",
  },
  backends: {
    bus: "memory",
    presence: "memory",
    metadata: "sqlite",
    messages: "sqlite",
  },
  nats: {
    servers: ["nats://127.0.0.1:4222"],
    nkeyFile: "",
    credsFile: "",
    tls: false,
    tlsCaFile: "",
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
    username: "",
    passwordFile: "",
    tls: false,
    tlsCaFile: "",
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
    username: "",
    passwordFile: "",
    tls: false,
    tlsCaFile: "",
  },
  postgres: {
    url: "postgres://msgr@127.0.0.1:5432/msgr",
    poolSize: 10,
    statementTimeoutMs: 10_000,
    passwordFile: "",
    tls: false,
    tlsCaFile: "",
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
  for (const [name, r] of Object.entries(c.rates)) {
    if (!(r.perSecond > 0) || !(r.burst >= 1)) bad(`rates.${name}: perSecond must be positive and burst at least 1`);
  }
  if (!(c.limits.commandsPerSecond > 0) || !(c.limits.commandsBurst >= 1)) bad("limits.commandsPerSecond must be positive and limits.commandsBurst at least 1");
  for (const key of ["maxInflightPerConnection", "maxRefusedCommands", "maxDevicesPerUser", "maxContacts", "maxBlocked"] as const) {
    if (!Number.isInteger(c.limits[key]) || c.limits[key] < 1) bad(`limits.${key} must be a positive integer`);
  }
  // The whole list travels in one push (CONTACTS, BLOCKS): it must fit the decoder's container limit.
  if (c.limits.maxContacts > 10_000 || c.limits.maxBlocked > 10_000) bad("limits.maxContacts and limits.maxBlocked must be at most 10000");
  if (!(c.auth.maxTokenLifetimeSec > 0)) bad("auth.maxTokenLifetimeSec must be positive");
  if (!(c.storage.expirySweepMs > 0)) bad("storage.expirySweepMs must be positive");
  if (!Number.isInteger(c.postgres.statementTimeoutMs) || c.postgres.statementTimeoutMs < 0) bad("postgres.statementTimeoutMs must be a non-negative integer (0: off)");
  if (!(c.messages.editWindowSec > 0)) bad("messages.editWindowSec must be positive");
  if (!(c.messages.deleteWindowSec >= 0)) bad("messages.deleteWindowSec must be >= 0 (0: no limit)");
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
  validateOps(c, bad);
  const media = c.media;
  if (!(media.uploadExpirySec > 0)) bad("media.uploadExpirySec must be positive");
  if (!(media.unattachedTtlSec >= media.uploadExpirySec)) bad("media.unattachedTtlSec must be at least media.uploadExpirySec (an upload may finish as its form expires)");
  if (!Number.isInteger(media.maxPendingUploads) || media.maxPendingUploads < 1) bad("media.maxPendingUploads must be a positive integer");
  if (!(media.maxUploadBytesPerDay >= Math.max(media.maxImageBytes, media.maxVideoBytes, media.maxDocumentBytes))) {
    bad("media.maxUploadBytesPerDay must be at least the largest of media.maxImageBytes, maxVideoBytes and maxDocumentBytes");
  }
  if (!(media.sweepIntervalMs > 0)) bad("media.sweepIntervalMs must be positive");
  const { e2ee } = c;
  // The SDK keeps the keys of 4 past epochs (ts-mls's retention): a wider window would let the server accept messages members cannot read.
  if (!Number.isInteger(e2ee.epochWindow) || e2ee.epochWindow < 0 || e2ee.epochWindow > 4) bad("e2ee.epochWindow must be an integer 0..4");
  if (!Number.isInteger(e2ee.maxKeyPackagesPerDevice) || e2ee.maxKeyPackagesPerDevice < 1 || e2ee.maxKeyPackagesPerDevice > 10_000) bad("e2ee.maxKeyPackagesPerDevice must be an integer 1..10000");
  if (!Number.isInteger(e2ee.keyPackagesLowWater) || e2ee.keyPackagesLowWater < 0 || e2ee.keyPackagesLowWater >= e2ee.maxKeyPackagesPerDevice) {
    bad("e2ee.keyPackagesLowWater must be an integer from 0 to below e2ee.maxKeyPackagesPerDevice");
  }
  for (const key of ["app", "devSignIn"] as const) if (!["auto", "on", "off"].includes(c.web[key])) bad(`web.${key} must be "auto", "on" or "off"`);
  if (!/^\/[A-Za-z0-9._~-]+(\/[A-Za-z0-9._~-]+)*$/.test(c.web.path) || c.web.path.startsWith("/v1")) {
    bad('web.path must be a path like "/app" (no trailing slash, not under /v1)');
  }
  for (const [role, allowed] of Object.entries(choices)) {
    const v = c.backends[role as keyof Config["backends"]];
    if (!allowed.includes(v)) bad(`backends.${role} must be one of ${allowed.join(", ")}`);
  }
  validateSecurity(c, bad);
  return c;
}

/** Settings of push providers, metrics, tracing and shutdown. */
function validateOps(c: Config, bad: (m: string) => never): void {
  const { apns, fcm } = c.push;
  if (apns.keyFile && (!apns.keyId || !apns.teamId || !apns.topic)) bad("push.apns: keyFile needs keyId, teamId and topic (the app's bundle id)");
  if (!isHttpsUrl(apns.url)) bad("push.apns.url must be an https URL");
  if (!isHttpsUrl(fcm.url)) bad("push.fcm.url must be an https URL");
  if (!Number.isInteger(c.push.retryAttempts) || c.push.retryAttempts < 0) bad("push.retryAttempts must be an integer >= 0");
  if (c.push.retryBaseMs <= 0 || c.push.retryMaxMs < c.push.retryBaseMs) bad("push.retryBaseMs must be positive and at most push.retryMaxMs");
  if (c.metrics.listen && !/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(c.metrics.listen)) bad('metrics.listen must be "" or host:port');
  if (!(c.tracing.sampleRatio >= 0 && c.tracing.sampleRatio <= 1)) bad("tracing.sampleRatio must be between 0 and 1");
  if (c.tracing.enabled && !/^https?:\/\/./.test(c.tracing.endpoint)) bad("tracing.endpoint must be an http(s) URL");
  if (c.shutdown.drainDelayMs < 0) bad("shutdown.drainDelayMs must be >= 0");
}

function isHttpsUrl(s: string): boolean {
  try {
    return new URL(s).protocol === "https:";
  } catch {
    return false;
  }
}

/** Settings that name credentials and TLS files: pairs that only work together, and secrets given twice. */
function validateSecurity(c: Config, bad: (m: string) => never): void {
  // Both names become tokens of NATS subjects and of the NATS permissions (src/connect/nats-permissions.ts).
  if (!/^[A-Za-z0-9_-]+$/.test(c.jetstream.stream)) bad("jetstream.stream may hold only letters, digits, _ and -");
  if (!/^[A-Za-z0-9_-]+$/.test(c.worker.consumer)) bad("worker.consumer may hold only letters, digits, _ and -");
  if (!c.server.tlsCertFile !== !c.server.tlsKeyFile) bad("server.tlsCertFile and server.tlsKeyFile go together: set both (TLS at the edge) or neither");
  if (c.nats.nkeyFile && c.nats.credsFile) bad("nats.nkeyFile and nats.credsFile are two ways to authenticate: set one");
  for (const section of ["nats", "redis", "postgres", "cassandra"] as const) {
    if (c[section].tlsCaFile && !c[section].tls) bad(`${section}.tlsCaFile is set but ${section}.tls is false: set ${section}.tls = true`);
  }
  if (c.minio.tlsCaFile && !c.minio.useSSL) bad("minio.tlsCaFile is set but minio.useSSL is false: set minio.useSSL = true");
  if (c.minio.secretKey && c.minio.secretKeyFile) bad("minio.secretKey and minio.secretKeyFile both set: keep only minio.secretKeyFile");
  if (!c.cassandra.username !== !c.cassandra.passwordFile) bad("cassandra.username and cassandra.passwordFile go together: set both (PasswordAuthenticator) or neither");
  if (c.redis.username && !c.redis.passwordFile) bad("redis.username needs redis.passwordFile");
  for (const section of ["redis", "postgres"] as const) {
    if (c[section].passwordFile && urlHasPassword(c[section].url)) bad(`${section}.url has a password and ${section}.passwordFile is set: remove the password from the URL`);
  }
}

function urlHasPassword(url: string): boolean {
  try {
    return new URL(url).password !== "";
  } catch {
    return false;
  }
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

/**
 * The environment that gives a child process exactly `c` (every setting as its MSGR_* variable;
 * lists comma-separated): `resolveConfig({}, toEnvironment(c))` equals `c`.
 */
export function toEnvironment(c: Config): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (o: Record<string, unknown>, path: string[]) => {
    for (const [k, v] of Object.entries(o)) {
      if (v && typeof v === "object" && !Array.isArray(v)) walk(v as Record<string, unknown>, [...path, k]);
      else out[envName([...path, k])] = Array.isArray(v) ? v.join(",") : String(v);
    }
  };
  walk(c as unknown as Record<string, unknown>, []);
  return out;
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

/** Embedded mode: no external auth service, the server signs with a key it made itself. */
export function embeddedAuth(c: Config): boolean {
  return c.auth.keysFile === "";
}

/** Whether the edge serves the browser app (web.app, "auto" resolved). */
export function webAppEnabled(c: Config): boolean {
  return c.web.app === "on" || (c.web.app === "auto" && embeddedAuth(c));
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;

/** Whether the app offers development sign-in (web.devSignIn, "auto" resolved); never without the app. */
export function devSignInEnabled(c: Config): boolean {
  if (!webAppEnabled(c)) return false;
  return c.web.devSignIn === "on" || (c.web.devSignIn === "auto" && embeddedAuth(c) && LOOPBACK.test(c.server.host));
}

/** Cluster mode: the edge shares its bus with other edge processes (backends.bus = "nats"). */
export function clusterMode(c: Config): boolean {
  return c.backends.bus === "nats";
}

/**
 * What an edge in cluster mode would keep to itself although every edge must agree on it: a
 * secret made in its own data directory (token keys, the local media store's signing key and
 * files, VAPID keys), or state in its own memory (presence, browser tickets). One line per
 * problem, naming the setting that fixes it; empty outside cluster mode or when all is shared.
 */
export function unsharedInCluster(c: Config): string[] {
  if (!clusterMode(c)) return [];
  const out: string[] = [];
  if (!c.auth.keysFile) {
    out.push("auth.keysFile is empty: this edge would sign and verify tokens with a key of its own (<dataDir>/jwks.json); set it to the JWK Set every edge reads");
  }
  if (c.backends.presence === "memory") {
    out.push('backends.presence = "memory": presence and browser tickets would live in this edge\'s memory, unseen by the others; set backends.presence = "redis"');
  }
  if (c.media.store === "local") {
    if (!c.media.signingKeyFile) {
      out.push('media.signingKeyFile is empty: the other edges would refuse the upload forms and download URLs this edge signs (with <dataDir>/media.key); set it to a secret file every edge reads, or use media.store = "minio"');
    }
    if (!c.media.localDir) {
      out.push('media.localDir is empty: files uploaded through this edge (<dataDir>/media) could not be downloaded through the others; set it to a directory every edge shares, or use media.store = "minio"');
    }
  }
  if (c.push.enabled && !c.push.vapidKeysFile) {
    out.push("push.vapidKeysFile is empty: browsers subscribed through one edge would refuse Web Push signed by another (each would make <dataDir>/vapid.json); set it to the key pair every edge reads, or push.enabled = false");
  }
  return out;
}

/** Refuses (ConfigError) an edge in cluster mode that would keep to itself what every edge must share. */
export function requireSharedInCluster(c: Config): void {
  const problems = unsharedInCluster(c);
  if (problems.length === 0) return;
  throw new ConfigError(
    `cluster mode (backends.bus = "nats") needs what every edge shares, and this edge's configuration has a per-node secret or store:\n` +
      problems.map((p) => `  - ${p}`).join("\n") +
      "\n  (`msgr cluster-secrets --dir DIR` makes the shared key files; docs/self-hosting.md, Cluster)",
  );
}
