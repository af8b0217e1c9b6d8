// The cluster write path's services for the durable scenario, on this machine: nats-server with
// JetStream and a single-node Cassandra, started by the same launchers the tests use, and the
// production classes on top of them (message log, history store, log-backed message store).

import cassandra from "cassandra-driver";
import pino from "pino";
import { DEFAULTS } from "../../src/config/config.ts";
import { CassandraHistory } from "../../src/storage/cassandra/history-store.ts";
import { MessageLog } from "../../src/storage/jetstream/message-log.ts";
import { LogBackedMessageStore } from "../../src/storage/jetstream/message-store.ts";
import { startCassandra } from "../../test/helpers/services/cassandra.ts";
import { startNats } from "../../test/helpers/services/nats.ts";

const KEYSPACE = "msgr_bench";
const TABLES = ["messages", "conv_buckets", "client_ids", "sender_last"];
/** A COUNT(*) scans the table: longer than the per-query default on a busy machine. */
const COUNT_TIMEOUT_MS = 120_000;

export const silent = pino({ level: "silent" });

export interface DurableServices {
  log: MessageLog;
  history: CassandraHistory;
  store: LogBackedMessageStore;
  /** nats-server and the Cassandra JVM, for CPU accounting. */
  logPid: number;
  storePid: number;
  /** Empties the store's tables: each variant starts from none. */
  truncate(): Promise<void>;
  /** Rows in the messages table. */
  countRows(): Promise<number>;
  /** A store as a second edge has it (own connection to the log), to race `store` for one conversation. */
  secondWriter(): Promise<{ store: LogBackedMessageStore; close(): Promise<void> }>;
  deleteConsumer(name: string): Promise<void>;
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
    const log = await MessageLog.open({ ...DEFAULTS.jetstream, servers: [nats.value.url], stream: "MSGR_BENCH_LOG", name: "bench", log: silent });
    opened.push(log);
    const cassandraOpts = { ...DEFAULTS.cassandra, contactPoints: [cass.value.contactPoint], localDataCenter: cass.value.localDataCenter, keyspace: KEYSPACE };
    const history = await CassandraHistory.open({ ...cassandraOpts, ttlSeconds: DEFAULTS.storage.retentionSeconds, log: silent });
    opened.push(history);
    const cql = new cassandra.Client({ contactPoints: cassandraOpts.contactPoints, localDataCenter: cassandraOpts.localDataCenter });
    await cql.connect();
    opened.push({ close: () => cql.shutdown() });
    const jsm = await log.nc.jetstreamManager();
    const store = new LogBackedMessageStore(log, history, silent);
    return {
      log,
      history,
      store,
      logPid: nats.value.pid!,
      storePid: cass.value.pid!,
      async truncate() {
        for (const t of TABLES) await cql.execute(`TRUNCATE ${KEYSPACE}.${t}`);
      },
      async countRows() {
        const { rows } = await cql.execute(`SELECT COUNT(*) AS n FROM ${KEYSPACE}.messages`, [], { readTimeout: COUNT_TIMEOUT_MS });
        return Number(rows[0]!.n);
      },
      async secondWriter() {
        // Another node's store: its own connection to the same stream and the same history store.
        const other = await MessageLog.open({ ...DEFAULTS.jetstream, servers: [nats.value.url], stream: "MSGR_BENCH_LOG", name: "bench-2", log: silent });
        return { store: new LogBackedMessageStore(other, history, silent), close: () => other.close() };
      },
      async deleteConsumer(name) {
        await jsm.consumers.delete(log.stream, name);
      },
      async stop() {
        // The store closes the log and the history store it was given.
        await store.close();
        await cql.shutdown();
        await Promise.all([nats.value.stop(), cass.value.stop()]);
      },
    };
  } catch (e) {
    for (const o of opened) await o.close().catch(() => {});
    await Promise.all([nats.value.stop(), cass.value.stop()]);
    throw e;
  }
}
