// The two halves of the cluster message path, opened from the config: the JetStream message log
// and the Cassandra/ScyllaDB history store. Edges wrap them in a LogBackedMessageStore
// (openLogBackedStore); workers drain one into the other.

import type { Logger } from "pino";
import type { Config } from "../../config/config.ts";
import { cassandraClientOptions } from "../../connect/cassandra.ts";
import { natsClientOptions } from "../../connect/nats.ts";
import { CassandraHistory } from "../cassandra/history-store.ts";
import { MessageLog } from "./message-log.ts";
import { LogBackedMessageStore } from "./message-store.ts";

/** Opens both (creating or updating the stream, and the keyspace and tables); `name` names the NATS connection. */
export async function openLogAndHistory(config: Config, log: Logger, name: string): Promise<{ messageLog: MessageLog; history: CassandraHistory }> {
  const messageLog = await MessageLog.open({ ...config.jetstream, ...natsClientOptions(config, name), consumer: config.worker.consumer, log });
  try {
    const history = await CassandraHistory.open({ ...config.cassandra, ttlSeconds: config.storage.retentionSeconds, log, connection: cassandraClientOptions(config) });
    return { messageLog, history };
  } catch (err) {
    await messageLog.close();
    throw err;
  }
}

/** The edges' message store: this node's shard owners and routes over the log, reads through both. */
export async function openLogBackedStore(config: Config, log: Logger): Promise<LogBackedMessageStore> {
  const name = `msgr-log-${config.server.nodeId}`;
  const { messageLog, history } = await openLogAndHistory(config, log, name);
  return new LogBackedMessageStore(messageLog, history, log, { name: `node${config.server.nodeId}`, leaseTtlMs: config.jetstream.leaseTtlMs, duplicateWindowMs: config.jetstream.duplicateWindowSeconds * 1000 });
}
