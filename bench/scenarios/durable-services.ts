// The cluster write path's services for the durable scenario, on this machine: nats-server with
// JetStream (fsync before every ack) and a single-node Cassandra, started by the same launchers
// the tests use, and the production classes on top of them (message log, history store,
// log-backed message store). Each round opens a log of its own (fresh streams), so a drain reads
// exactly what that round appended.

import cassandra from "cassandra-driver";
import { connect, DiscardPolicy, nanos, RetentionPolicy, StorageType, type JetStreamClient, type JetStreamManager, type NatsConnection } from "nats";
import pino from "pino";
import { DEFAULTS } from "../../src/config/config.ts";
import { CassandraHistory } from "../../src/storage/cassandra/history-store.ts";
import { MessageLog } from "../../src/storage/jetstream/message-log.ts";
import { LogBackedMessageStore } from "../../src/storage/jetstream/message-store.ts";
import { startCassandra } from "../../test/helpers/services/cassandra.ts";
import { startNats } from "../../test/helpers/services/nats.ts";

const KEYSPACE = "msgr_bench";
const TABLES = ["messages", "conv_buckets", "client_ids", "sender_last", "conv_last"];
/** A COUNT(*) scans the table: longer than the per-query default on a busy machine. */
const COUNT_TIMEOUT_MS = 120_000;

export const silent = pino({ level: "silent" });

/** One edge's store on a round's log. */
export interface Edge {
  store: LogBackedMessageStore;
  close(): Promise<void>;
}

export interface DurableServices {
  history: CassandraHistory;
  /** A CQL client of the bench's own, for the store's ceiling and for checks. */
  cql: cassandra.Client;
  keyspace: string;
  /** nats-server and the Cassandra JVM, for CPU accounting. */
  logPid: number;
  storePid: number;
  /** The bench's JetStream client, for the raw publishes. */
  js: JetStreamClient;
  jsm: JetStreamManager;
  nc: NatsConnection;
  /** Opens the message log `stream` (creating its shard streams) as the workers see it. */
  openLog(stream: string): Promise<MessageLog>;
  /** An edge's store on the log `stream` (its own connection to NATS). */
  openEdge(stream: string, name: string): Promise<Edge>;
  /** Creates a stream with the message log's settings and one subject: the raw JetStream ceiling. */
  rawStream(name: string, subject: string): Promise<void>;
  /** Deletes every stream whose name starts with `prefix`, and its lease bucket. */
  deleteLog(prefix: string): Promise<void>;
  /** Empties the store's tables. */
  truncate(): Promise<void>;
  /** Rows in the messages table. */
  countRows(): Promise<number>;
  stop(): Promise<void>;
}

export async function startDurableServices(): Promise<DurableServices> {
  const [nats, cass] = await Promise.allSettled([startNats({ jetstream: true }), startCassandra()]);
  if (nats.status === "rejected" || cass.status === "rejected") {
    await Promise.all([nats, cass].map((s) => (s.status === "fulfilled" ? s.value.stop() : undefined)));
    throw (nats.status === "rejected" ? nats.reason : (cass as PromiseRejectedResult).reason) as Error;
  }
  const opened: { close(): Promise<void> }[] = [];
  try {
    const url = nats.value.url;
    const logOptions = (stream: string, name: string) => ({ ...DEFAULTS.jetstream, servers: [url], stream, name, consumer: DEFAULTS.worker.consumer, log: silent });
    const cassandraOpts = { ...DEFAULTS.cassandra, contactPoints: [cass.value.contactPoint], localDataCenter: cass.value.localDataCenter, keyspace: KEYSPACE };
    const history = await CassandraHistory.open({ ...cassandraOpts, ttlSeconds: DEFAULTS.storage.retentionSeconds, log: silent });
    opened.push(history);
    const cql = new cassandra.Client({ contactPoints: cassandraOpts.contactPoints, localDataCenter: cassandraOpts.localDataCenter, encoding: { useBigIntAsLong: true } });
    await cql.connect();
    opened.push({ close: () => cql.shutdown() });
    const nc = await connect({ servers: url, name: "bench" });
    opened.push({ close: () => nc.close() });
    const jsm = await nc.jetstreamManager();
    return {
      history,
      cql,
      keyspace: KEYSPACE,
      logPid: nats.value.pid!,
      storePid: cass.value.pid!,
      js: nc.jetstream(),
      jsm,
      nc,
      openLog: (stream) => MessageLog.open(logOptions(stream, "bench-worker")),
      async openEdge(stream, name) {
        // As a node has it: its own connection to the log and its own CQL session.
        const log = await MessageLog.open(logOptions(stream, name));
        const edgeHistory = await CassandraHistory.open({ ...cassandraOpts, ttlSeconds: DEFAULTS.storage.retentionSeconds, log: silent }).catch(async (e) => {
          await log.close();
          throw e;
        });
        const store = new LogBackedMessageStore(log, edgeHistory, silent, { name, leaseTtlMs: DEFAULTS.jetstream.leaseTtlMs, duplicateWindowMs: DEFAULTS.jetstream.duplicateWindowSeconds * 1000 });
        return { store, close: () => store.close() };
      },
      async rawStream(name, subject) {
        await jsm.streams.add({
          name,
          subjects: [subject],
          storage: StorageType.File,
          retention: RetentionPolicy.Limits,
          discard: DiscardPolicy.Old,
          max_age: nanos(DEFAULTS.jetstream.maxAgeSeconds * 1000),
          num_replicas: DEFAULTS.jetstream.replicas,
          allow_direct: true,
        });
      },
      async deleteLog(prefix) {
        for await (const s of jsm.streams.list()) {
          const name = s.config.name;
          if (name.startsWith(prefix) || name === `KV_${prefix}_OWNERS`) await jsm.streams.delete(name);
        }
      },
      async truncate() {
        for (const t of TABLES) await cql.execute(`TRUNCATE ${KEYSPACE}.${t}`);
      },
      async countRows() {
        const { rows } = await cql.execute(`SELECT COUNT(*) AS n FROM ${KEYSPACE}.messages`, [], { readTimeout: COUNT_TIMEOUT_MS });
        return Number(rows[0]!.n);
      },
      async stop() {
        for (const o of opened.reverse()) await o.close().catch(() => {});
        await Promise.all([nats.value.stop(), cass.value.stop()]);
      },
    };
  } catch (e) {
    for (const o of opened.reverse()) await o.close().catch(() => {});
    await Promise.all([nats.value.stop(), cass.value.stop()]);
    throw e;
  }
}
