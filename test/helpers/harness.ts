// Test harness: a real deployment with real SDK clients over real WebSockets. No mocks.
// On the "embedded" topology, a server in this process on an ephemeral loopback port with its own
// data directory; on "cluster", two edge processes on one port with the cluster's engines
// (test/helpers/cluster.ts). Tests see the same interface either way, and look inside only
// through what both offer: the shared stores, and each edge's /metrics.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { loadSigningKey, ensureEmbeddedKeyring } from "../../src/auth/keyring.ts";
import { mintAccessToken } from "../../src/auth/tokens.ts";
import { resolveConfig, type Config, type DeepPartial } from "../../src/config/config.ts";
import { localMediaDir } from "../../src/media/open.ts";
import type { SafetyStore } from "../../src/storage/safety-types.ts";
import type { MessageStore, MetadataStore, PresenceStore } from "../../src/storage/types.ts";
import { unlimitedLimits, unlimitedRates } from "./limits.ts";
import { startServer, type RunningServer, type ServerOptions } from "../../src/server.ts";
import { Client, type ClientEvents, type ClientOptions, type WireMessage } from "../../src/sdk/index.ts";
import { startCluster, type RunningCluster } from "./cluster.ts";
import type { Topology } from "./topology.ts";

export type { Topology } from "./topology.ts";

/** One edge process: where it serves clients and its metrics. */
export interface HarnessEdge {
  /** server.nodeId, as CONNECT reports it (`client.session.node`). */
  node: number;
  httpUrl: string;
  wsUrl: string;
  metricsUrl: string;
}

/** The stores the deployment keeps its state in, as its servers see them. */
export interface HarnessStores {
  metadata: MetadataStore;
  safety: SafetyStore;
  presence: PresenceStore;
  messages: MessageStore;
}

export interface Harness {
  topology: Topology;
  /** The settings the server (every edge) runs with. */
  config: Config;
  /** Where clients connect: the server, or the port the cluster's edges share (metricsUrl: the first edge's). */
  server: { wsUrl: string; httpUrl: string; port: number; metricsUrl: string };
  /** Every edge process: one embedded server, or the cluster's two edges. */
  edges: HarnessEdge[];
  /** The in-process server, for the tests registered with embeddedOnly; throws on a cluster. */
  readonly embedded: RunningServer;
  /** A directory of the test's own (the embedded server's data directory). */
  dataDir: string;
  /** The JWK Set the server verifies tokens with, private part included. */
  keysFile: string;
  /** Where the local media store keeps its files (media.store = "local"). */
  mediaDir: string;
  /** What a `msgr` CLI command needs in its environment to mint tokens for this deployment. */
  cliEnv: Record<string, string>;
  token(user: string, device: string, opts?: { ttlSec?: number; admin?: boolean }): Promise<string>;
  /** A connected, synced client. */
  client(user: string, device?: string, opts?: Partial<ClientOptions>): Promise<Client>;
  /** The shared stores (opened from the cluster's settings on first use). */
  stores(): Promise<HarnessStores>;
  /** The sum over every edge of the samples of metric `name` whose labels include `labels`. */
  metric(name: string, labels?: Record<string, string>): Promise<number>;
  stop(): Promise<void>;
}

/** Long enough for the first cluster of a run, which waits for Cassandra to boot: for beforeAll. */
export const HARNESS_START_MS = 300_000;

export function testConfig(dataDir: string, overrides: DeepPartial<Config> = {}): Config {
  return resolveConfig(
    {
      ...overrides,
      server: { port: 0, dataDir, ...overrides.server },
      heartbeat: { intervalMs: 1000, timeoutMs: 3000, connectTimeoutMs: 3000, ...overrides.heartbeat },
      storage: { synchronous: "normal", ...overrides.storage },
      // Limits and rates are out of the way unless a test sets them: the security suites test them.
      limits: { ...unlimitedLimits(), ...overrides.limits },
      rates: { ...unlimitedRates(), ...overrides.rates },
      log: { level: "silent", ...overrides.log },
    },
    {},
  );
}

export async function mintToken(config: Config, user: string, device: string, opts: { ttlSec?: number; admin?: boolean } = {}): Promise<string> {
  const key = await loadSigningKey(config.auth.keysFile || (await ensureEmbeddedKeyring(config.server.dataDir)));
  return mintAccessToken(key, { user, device, ttlSec: opts.ttlSec ?? 3600, admin: opts.admin ?? false, audience: config.auth.audience });
}

export interface HarnessOptions extends Omit<ServerOptions, "log"> {
  /** The lifetime of the tokens h.token mints by default. */
  tokenTtlSec?: number;
  /** Default "embedded". A `clock` works only there (child processes keep the system's). */
  topology?: Topology;
  /** Cluster only: each edge on a port of its own, for tests that must pick the edge. */
  ownPorts?: boolean;
}

/** `over` laid onto `base`, object by object (lists and values replace). */
function deepMerge<T>(base: DeepPartial<T>, over: DeepPartial<T>): DeepPartial<T> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over as Record<string, unknown>)) {
    const b = out[k];
    out[k] = v && typeof v === "object" && !Array.isArray(v) && b && typeof b === "object" && !Array.isArray(b) ? deepMerge(b, v) : v;
  }
  return out as DeepPartial<T>;
}

/**
 * A deployment of the given topology with `overrides` on top of the test settings (testConfig).
 * `clock` replaces the embedded server's clock (tests that move time); `tokenTtlSec` is the
 * lifetime of the tokens h.token mints by default (a test that moves the clock by hours needs
 * tokens, and a heartbeat timeout, that outlive the jump).
 */
export async function startHarness(overrides: DeepPartial<Config> = {}, opts: HarnessOptions = {}): Promise<Harness> {
  const topology = opts.topology ?? "embedded";
  if (topology === "cluster") {
    if (opts.clock) throw new Error("a clock can only be injected into the embedded server: register the test with embeddedOnly");
    const dataDir = mkdtempSync(join(tmpdir(), "msgr-test-"));
    const cluster = await startCluster((settings) => testConfig(dataDir, deepMerge(settings, overrides)), { ownPorts: opts.ownPorts });
    return harness(topology, cluster.config, dataDir, opts, {
      server: { wsUrl: cluster.wsUrl, httpUrl: cluster.httpUrl, port: cluster.port, metricsUrl: cluster.edges[0]!.metricsUrl },
      edges: cluster.edges.map((e) => ({ node: e.node, httpUrl: e.httpUrl, wsUrl: e.wsUrl, metricsUrl: e.metricsUrl })),
      keysFile: cluster.keysFile,
      embedded: null,
      openStores: () => openClusterStores(cluster),
      stop: cluster.stop,
    });
  }
  const dataDir = mkdtempSync(join(tmpdir(), "msgr-test-"));
  const config = testConfig(dataDir, overrides);
  const server = await startServer(config, { clock: opts.clock, log: pino({ level: "silent" }) });
  const { ctx } = server.node;
  return harness(topology, config, dataDir, opts, {
    server,
    edges: [{ node: config.server.nodeId, httpUrl: server.httpUrl, wsUrl: server.wsUrl, metricsUrl: server.metricsUrl }],
    keysFile: config.auth.keysFile || join(dataDir, "jwks.json"),
    embedded: server,
    openStores: async () => ({ stores: { metadata: ctx.metadata, safety: ctx.safety.store, presence: ctx.presence, messages: ctx.messages }, close: async () => {} }),
    stop: () => server.stop(),
  });
}

interface Deployment {
  server: Harness["server"];
  edges: HarnessEdge[];
  keysFile: string;
  embedded: RunningServer | null;
  openStores(): Promise<{ stores: HarnessStores; close(): Promise<void> }>;
  stop(): Promise<void>;
}

function harness(topology: Topology, config: Config, dataDir: string, opts: HarnessOptions, d: Deployment): Harness {
  const clients: Client[] = [];
  let stores: ReturnType<Deployment["openStores"]> | undefined;
  const h: Harness = {
    topology,
    config,
    server: d.server,
    edges: d.edges,
    get embedded(): RunningServer {
      if (!d.embedded) throw new Error("h.embedded is the in-process server: register this test with embeddedOnly");
      return d.embedded;
    },
    dataDir,
    keysFile: d.keysFile,
    mediaDir: localMediaDir(config),
    cliEnv: config.auth.keysFile ? { MSGR_AUTH_KEYS_FILE: config.auth.keysFile } : { MSGR_SERVER_DATA_DIR: dataDir },
    token: (user, device, tokenOpts) => mintToken(config, user, device, { ttlSec: opts.tokenTtlSec, ...tokenOpts }),
    async client(user, device = `${user}-phone`, clientOpts = {}) {
      const c = new Client({ url: d.server.wsUrl, token: await h.token(user, device), minBackoffMs: 50, maxBackoffMs: 500, ...clientOpts });
      clients.push(c);
      const synced = nextEvent(c, "synced", undefined, 30_000);
      await c.connect();
      await synced;
      return c;
    },
    async stores() {
      stores ??= d.openStores();
      return (await stores).stores;
    },
    async metric(name, labels = {}) {
      let sum = 0;
      for (const e of d.edges) sum += sumSamples(await (await fetch(e.metricsUrl)).text(), name, labels);
      return sum;
    },
    async stop() {
      for (const c of clients) c.close();
      if (stores) await (await stores).close();
      await d.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return h;
}

/** The cluster's stores, opened in this process with the edges' settings, as any edge opens them. */
async function openClusterStores(cluster: RunningCluster): Promise<{ stores: HarnessStores; close(): Promise<void> }> {
  const config = cluster.config;
  const log = pino({ level: "silent" });
  const [{ openStores }, { openRedisStores }, { redisClientOptions }] = await Promise.all([
    import("../../src/backends.ts"),
    import("../../src/storage/redis/open.ts"),
    import("../../src/connect/redis.ts"),
  ]);
  const durable = await openStores(config, log);
  const soft = await openRedisStores({ url: config.redis.url, ttlMs: config.heartbeat.timeoutMs, log, connection: redisClientOptions(config) });
  return {
    stores: { metadata: durable.metadata, safety: durable.safety, messages: durable.messages, presence: soft.presence },
    async close() {
      await Promise.all([soft.presence.close(), soft.tickets.close()]);
      await durable.close();
    },
  };
}

/** Sums the samples of `name` (Prometheus text format) whose labels include every one of `labels`. */
function sumSamples(text: string, name: string, labels: Record<string, string>): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = new Map([...(m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1]!, x[2]!]));
    if (Object.entries(labels).every(([k, v]) => have.get(k) === v)) sum += Number(m[3]);
  }
  return sum;
}

/** Resolves with the next `event` of `c` that satisfies `pred`; rejects after `ms`. */
export function nextEvent<K extends keyof ClientEvents>(c: Client, event: K, pred: (p: ClientEvents[K]) => boolean = () => true, ms = 10_000): Promise<ClientEvents[K]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`timed out waiting for ${String(event)}`));
    }, ms);
    const off = c.on(event, (p) => {
      if (!pred(p)) return;
      clearTimeout(timer);
      off();
      resolve(p);
    });
  });
}

/** Collects every message event of `c` into an array (per conversation order is the event order). */
export function collect(c: Client): WireMessage[] {
  const out: WireMessage[] = [];
  c.on("message", (m) => out.push(m));
  return out;
}

export { until } from "./wait.ts";

export const text = (m: WireMessage) => new TextDecoder().decode(m.body);
