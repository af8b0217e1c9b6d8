// A msgr cluster for the end-to-end suites, started the way an operator starts one (`msgr start`
// and `msgr worker` with MSGR_* settings, nothing else): two edge processes on one port
// (server.reusePort, so the kernel hands each new connection to either), routed through NATS,
// messages acked in the JetStream log and moved into Cassandra by one write-behind worker,
// presence and tickets in Redis, metadata in PostgreSQL, the keys every edge must share in files.
//
// Cost: PostgreSQL and Cassandra start once per test run and give each cluster a database and a
// keyspace of its own; NATS and Redis (quick to start) are fresh per cluster, so two clusters in
// one run never hear each other's events.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { toEnvironment, type Config, type DeepPartial } from "../../src/config/config.ts";
import { sharedSecrets } from "./cluster-secrets.ts";
import { startChild, startWorkerChild, type ChildServer, type ChildWorker } from "./child-server.ts";
import { startCassandra, type CassandraServer } from "./services/cassandra.ts";
import { freePort } from "./services/common.ts";
import { startNats, type NatsServer } from "./services/nats.ts";
import { startPostgres, type PostgresServer } from "./services/postgres.ts";
import { startRedis, type RedisServer } from "./services/redis.ts";

/** One edge process of a cluster. */
export interface ClusterEdge extends ChildServer {
  /** server.nodeId: what CONNECT answers as `node`. */
  node: number;
}

export interface RunningCluster {
  /** The settings every process runs with (each edge adds its node id and data directory). */
  config: Config;
  edges: ClusterEdge[];
  worker: ChildWorker;
  /** Where clients connect: the port the edges share, or (ownPorts) the first edge. */
  httpUrl: string;
  wsUrl: string;
  port: number;
  /** The JWK Set every edge verifies tokens with (private: tests mint with it). */
  keysFile: string;
  root: string;
  stop(): Promise<void>;
}

export interface ClusterOptions {
  /** Each edge on a port of its own instead of one shared port: tests that must pick the edge. */
  ownPorts?: boolean;
}

interface SharedEngines {
  pg: PostgresServer;
  cassandra: CassandraServer;
}

let shared: Promise<SharedEngines> | undefined;

/** PostgreSQL and Cassandra for every cluster of this run, started on first use; they go down with the process. */
function sharedEngines(): Promise<SharedEngines> {
  shared ??= (async () => {
    const [pg, cassandra] = await Promise.all([startPostgres(), startCassandra()]);
    return { pg, cassandra };
  })().catch((err: unknown) => {
    shared = undefined;
    throw err;
  });
  return shared;
}

let clusters = 0;

/** Node ids of the edges (what CONNECT reports) and of the worker. */
export const EDGE_NODES = [1, 2] as const;
const WORKER_NODE = 90;

/**
 * Starts a cluster whose processes all run with `config` (a test config with the cluster's
 * backends filled in by clusterConfig). Resolves once both edges listen and the worker consumes.
 */
export async function startCluster(base: (cluster: DeepPartial<Config>) => Config, opts: ClusterOptions = {}): Promise<RunningCluster> {
  const n = ++clusters;
  const root = mkdtempSync(join(tmpdir(), "msgr-e2e-cluster-"));
  const started: { stop(): Promise<unknown> }[] = [];
  const processes: (ChildServer | ChildWorker)[] = [];
  const stopAll = async () => {
    for (const p of processes) p.proc.kill("SIGKILL");
    await Promise.allSettled(processes.map((p) => p.exited));
    await Promise.allSettled(started.map((s) => s.stop()));
    rmSync(root, { recursive: true, force: true });
  };
  try {
    const [engines, nats, redis] = await Promise.all([sharedEngines(), startNats({ jetstream: true, fsync: false }), startRedis()]);
    started.push(nats as NatsServer, redis as RedisServer);
    const [database, secrets] = await Promise.all([engines.pg.newDatabase(), sharedSecrets(root)]);
    const keysFile = secrets.keysFile;
    const sharedPort = opts.ownPorts ? 0 : await freePort();
    const config = base({
      server: { host: "127.0.0.1", reusePort: !opts.ownPorts },
      backends: { bus: "nats", presence: "redis", metadata: "postgres", messages: "jetstream" },
      nats: { servers: [nats.url] },
      redis: { url: redis.url },
      postgres: { url: database, poolSize: 4 },
      cassandra: {
        contactPoints: [engines.cassandra.contactPoint],
        localDataCenter: engines.cassandra.localDataCenter,
        keyspace: `msgr_e2e_${n}`,
        requestTimeoutMs: 5000,
      },
      // One media directory and URL-signing key, one VAPID key pair for both edges.
      ...secrets.config,
      // Each edge's /metrics on a port of its own: the client port is shared.
      metrics: { listen: "127.0.0.1:0" },
      // A loaded machine stalls processes for a second or two, which must not read as a dead connection.
      heartbeat: { timeoutMs: 10_000 },
    });
    const env = { ...toEnvironment(config), MSGR_LOG_LEVEL: "info" };
    const edgeEnv = (node: number, port: number) => ({
      ...env,
      MSGR_SERVER_NODE_ID: String(node),
      MSGR_SERVER_DATA_DIR: join(root, `edge-${node}`),
      MSGR_SERVER_PORT: String(port),
    });
    // The first edge applies the migrations and creates the stream and the tables; then the rest.
    const first = await startChild(edgeEnv(EDGE_NODES[0], sharedPort));
    processes.push(first);
    const [second, worker] = await Promise.all([
      startChild(edgeEnv(EDGE_NODES[1], sharedPort)),
      // Its /metrics on a free port (the default, 9465, is one per machine).
      freePort().then((metricsPort) =>
        startWorkerChild({ ...env, MSGR_SERVER_NODE_ID: String(WORKER_NODE), MSGR_SERVER_DATA_DIR: join(root, "worker"), MSGR_WORKER_METRICS_PORT: String(metricsPort) }),
      ),
    ]);
    processes.push(second, worker);
    const edges: ClusterEdge[] = [
      { ...first, node: EDGE_NODES[0] },
      { ...second, node: EDGE_NODES[1] },
    ];
    const port = Number(new URL(first.httpUrl).port);
    return {
      config,
      edges,
      worker,
      httpUrl: first.httpUrl,
      wsUrl: first.wsUrl,
      port,
      keysFile,
      root,
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
