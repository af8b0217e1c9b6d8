// The durable write path's settings: environment overrides reach them, and settings that would
// weaken or break the path are refused at start with a message naming the key.

import { describe, expect, test } from "bun:test";
import { ConfigError, environmentVariables, loadConfig, resolveConfig } from "../../src/config/config.ts";

describe("config: log, history store and worker settings", () => {
  test("environment variables override the jetstream, cassandra and worker sections", () => {
    const c = resolveConfig({}, {
      MSGR_BACKENDS_MESSAGES: "jetstream",
      MSGR_JETSTREAM_REPLICAS: "3",
      MSGR_CASSANDRA_CONTACT_POINTS: "10.0.0.41:9042,10.0.0.42:9042",
      MSGR_WORKER_WRITE_MODE: "concurrent",
      MSGR_WORKER_ACK_WAIT_MS: "5000",
    });
    expect(c.backends.messages).toBe("jetstream");
    expect(c.jetstream.replicas).toBe(3);
    expect(c.cassandra.contactPoints).toEqual(["10.0.0.41:9042", "10.0.0.42:9042"]);
    expect(c.worker.writeMode).toBe("concurrent");
    expect(c.worker.ackWaitMs).toBe(5000);
    expect(environmentVariables()).toContain("MSGR_CASSANDRA_LOCAL_DATA_CENTER");
  });

  test("the defaults are a single-replica development setup with LOCAL_QUORUM and batched writes", () => {
    const c = resolveConfig({}, {});
    expect(c.backends.messages).toBe("sqlite");
    expect(c.jetstream).toMatchObject({ replicas: 1, maxAgeSeconds: 7 * 86_400, duplicateWindowSeconds: 600, shards: 8, leaseTtlMs: 5_000 });
    expect(c.cassandra).toMatchObject({ consistency: "localQuorum", replicationFactor: 1 });
    expect(c.worker).toMatchObject({ writeMode: "batch", writesInFlight: 4 });
  });

  test("the log's shard count, lease TTL and the worker's writes in flight reach the config from the environment", () => {
    const c = resolveConfig({}, { MSGR_JETSTREAM_SHARDS: "16", MSGR_JETSTREAM_LEASE_TTL_MS: "2000", MSGR_WORKER_WRITES_IN_FLIGHT: "8" });
    expect(c.jetstream.shards).toBe(16);
    expect(c.jetstream.leaseTtlMs).toBe(2000);
    expect(c.worker.writesInFlight).toBe(8);
  });

  test.each([
    [{ MSGR_BACKENDS_MESSAGES: "cassandra" }, /backends.messages must be one of sqlite, postgres, jetstream/],
    [{ MSGR_WORKER_WRITE_MODE: "logged" }, /worker.writeMode/],
    [{ MSGR_JETSTREAM_REPLICAS: "2" }, /jetstream.replicas must be 1, 3 or 5/],
    [{ MSGR_CASSANDRA_CONSISTENCY: "three" }, /cassandra.consistency/],
    [{ MSGR_JETSTREAM_DUPLICATE_WINDOW_SECONDS: "0" }, /duplicateWindowSeconds/],
    [{ MSGR_JETSTREAM_MAX_AGE_SECONDS: "60", MSGR_JETSTREAM_DUPLICATE_WINDOW_SECONDS: "600" }, /at most jetstream.maxAgeSeconds/],
    [{ MSGR_JETSTREAM_SHARDS: "0" }, /jetstream.shards must be an integer 1..256/],
    [{ MSGR_JETSTREAM_SHARDS: "1.5" }, /jetstream.shards/],
    [{ MSGR_JETSTREAM_LEASE_TTL_MS: "100" }, /jetstream.leaseTtlMs must be at least 500/],
    [{ MSGR_WORKER_WRITES_IN_FLIGHT: "0" }, /worker.writesInFlight must be an integer 1..64/],
  ])("%p is refused with a message naming the setting", (env, message) => {
    expect(() => resolveConfig({}, env)).toThrow(ConfigError);
    expect(() => resolveConfig({}, env)).toThrow(message);
  });
});

describe("config: push providers, metrics, tracing and shutdown", () => {
  test("the defaults: push retried 5 times, APNs and FCM off, /metrics on the main port without a token, tracing off, no drain delay", () => {
    const c = resolveConfig({}, {});
    expect(c.push).toMatchObject({ retryAttempts: 5, retryBaseMs: 1000, retryMaxMs: 60_000, caFile: "" });
    expect(c.push.apns).toMatchObject({ keyFile: "", url: "https://api.push.apple.com" });
    expect(c.push.fcm).toMatchObject({ serviceAccountFile: "", url: "https://fcm.googleapis.com" });
    expect(c.metrics).toEqual({ listen: "", token: "" });
    expect(c.tracing).toMatchObject({ enabled: false, sampleRatio: 1 });
    expect(c.shutdown.drainDelayMs).toBe(0);
  });

  test("environment variables reach the nested push sections, metrics and tracing", () => {
    const c = resolveConfig({}, {
      MSGR_PUSH_APNS_KEY_FILE: "/etc/msgr/apns.p8",
      MSGR_PUSH_APNS_KEY_ID: "ABC123DEFG",
      MSGR_PUSH_APNS_TEAM_ID: "TEAM456789",
      MSGR_PUSH_APNS_TOPIC: "com.example.chat",
      MSGR_PUSH_FCM_SERVICE_ACCOUNT_FILE: "/etc/msgr/fcm.json",
      MSGR_METRICS_LISTEN: "[::1]:9464",
      MSGR_METRICS_TOKEN: "s3cret",
      MSGR_TRACING_ENABLED: "true",
      MSGR_TRACING_SAMPLE_RATIO: "0.1",
      MSGR_SHUTDOWN_DRAIN_DELAY_MS: "5000",
    });
    expect(c.push.apns).toMatchObject({ keyFile: "/etc/msgr/apns.p8", keyId: "ABC123DEFG", teamId: "TEAM456789", topic: "com.example.chat" });
    expect(c.push.fcm.serviceAccountFile).toBe("/etc/msgr/fcm.json");
    expect(c.metrics).toEqual({ listen: "[::1]:9464", token: "s3cret" });
    expect(c.tracing).toMatchObject({ enabled: true, sampleRatio: 0.1 });
    expect(c.shutdown.drainDelayMs).toBe(5000);
    expect(environmentVariables()).toContain("MSGR_PUSH_FCM_SERVICE_ACCOUNT_FILE");
  });

  test.each([
    [{ MSGR_PUSH_APNS_KEY_FILE: "/k.p8" }, /push.apns: keyFile needs keyId, teamId and topic/],
    [{ MSGR_PUSH_APNS_URL: "http://api.push.apple.com" }, /push.apns.url must be an https URL/],
    [{ MSGR_PUSH_FCM_URL: "fcm.googleapis.com" }, /push.fcm.url must be an https URL/],
    [{ MSGR_PUSH_RETRY_ATTEMPTS: "-1" }, /push.retryAttempts/],
    [{ MSGR_PUSH_RETRY_BASE_MS: "5000", MSGR_PUSH_RETRY_MAX_MS: "1000" }, /push.retryBaseMs must be positive and at most push.retryMaxMs/],
    [{ MSGR_METRICS_LISTEN: "9464" }, /metrics.listen must be "" or host:port/],
    [{ MSGR_TRACING_SAMPLE_RATIO: "2" }, /tracing.sampleRatio/],
    [{ MSGR_TRACING_ENABLED: "true", MSGR_TRACING_ENDPOINT: "collector:4318" }, /tracing.endpoint must be an http\(s\) URL/],
    [{ MSGR_SHUTDOWN_DRAIN_DELAY_MS: "-1" }, /shutdown.drainDelayMs/],
  ])("%p is refused with a message naming the setting", (env, message) => {
    expect(() => resolveConfig({}, env)).toThrow(message);
  });

  test("msgr.example.toml loads, serving /metrics on loopback", () => {
    const c = loadConfig(new URL("../../msgr.example.toml", import.meta.url).pathname, {});
    expect(c.metrics.listen).toBe("127.0.0.1:9464");
    expect(c.tracing.enabled).toBe(false);
  });
});
