// The two halves of the cluster message path, opened from the config: the JetStream message log
// and the Cassandra/ScyllaDB history store. Edges wrap them in a LogBackedMessageStore; workers
// drain one into the other.

import type { Logger } from "pino";
import type { Config } from "../../config/config.ts";
import { cassandraClientOptions } from "../../connect/cassandra.ts";
import { natsClientOptions } from "../../connect/nats.ts";
import { CassandraHistory } from "../cassandra/history-store.ts";
import { MessageLog } from "./message-log.ts";

/** Opens both (creating or updating the stream, and the keyspace and tables); `name` names the NATS connection. */
export async function openLogAndHistory(config: Config, log: Logger, name: string): Promise<{ messageLog: MessageLog; history: CassandraHistory }> {
  const messageLog = await MessageLog.open({ ...config.jetstream, ...natsClientOptions(config, name), log });
  try {
    const history = await CassandraHistory.open({ ...config.cassandra, ttlSeconds: config.storage.retentionSeconds, log, connection: cassandraClientOptions(config) });
    return { messageLog, history };
  } catch (err) {
    await messageLog.close();
    throw err;
  }
}
