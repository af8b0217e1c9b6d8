// A log-backed store in a process of its own, as an edge has it, for failover tests that SIGKILL
// or SIGSTOP it mid-batch: appends MSGR_TEST_COUNT messages to MSGR_TEST_CONV with
// MSGR_TEST_WINDOW in flight, resends each (same client id, marked resend, as the SDK does) until
// it is acknowledged, and tells its parent "ack <n> <seq> <attempts>" for each, then "done <its
// store's stats>", on the NATS subject MSGR_TEST_REPORT.

import pino from "pino";
import { CassandraHistory } from "../../src/storage/cassandra/history-store.ts";
import { MessageLog } from "../../src/storage/jetstream/message-log.ts";
import { systemClock, type Clock } from "../../src/clock.ts";
import { LogBackedMessageStore } from "../../src/storage/jetstream/message-store.ts";

const env = process.env;
const log = pino({ level: "silent" });
const conv = env.MSGR_TEST_CONV!;
const count = Number(env.MSGR_TEST_COUNT);
const window = Number(env.MSGR_TEST_WINDOW);
const prefix = env.MSGR_TEST_PREFIX ?? "w";
const report = env.MSGR_TEST_REPORT!;

const messageLog = await MessageLog.open({
  servers: [env.MSGR_TEST_NATS!],
  stream: env.MSGR_TEST_STREAM!,
  shards: Number(env.MSGR_TEST_SHARDS),
  replicas: 1,
  maxAgeSeconds: 3600,
  duplicateWindowSeconds: 60,
  publishTimeoutMs: 2000,
  leaseTtlMs: Number(env.MSGR_TEST_LEASE_TTL_MS),
  consumer: "writer",
  name: "log-writer",
  log,
});
const history = await CassandraHistory.open({
  contactPoints: [env.MSGR_TEST_CASSANDRA!],
  localDataCenter: env.MSGR_TEST_DC!,
  keyspace: env.MSGR_TEST_KEYSPACE!,
  replicationFactor: 1,
  consistency: "localQuorum",
  requestTimeoutMs: 10_000,
  ttlSeconds: 0,
  log,
});
// MSGR_TEST_FROZEN_CLOCK: a clock that never moves, so the lease is never renewed: only the
// stream's fence can tell this owner that another took over.
const frozen: Clock = { now: () => 0, after: () => () => {} };
const clock = env.MSGR_TEST_FROZEN_CLOCK ? frozen : systemClock;
const store = new LogBackedMessageStore(messageLog, history, log, { name: "child", leaseTtlMs: Number(env.MSGR_TEST_LEASE_TTL_MS), duplicateWindowMs: 60_000, clock });

let next = 0;
const body = new TextEncoder().encode("x".repeat(100));
async function lane(): Promise<void> {
  while (next < count) {
    const n = next++;
    const msg = { conv, id: BigInt(n + 1), from: "child", dev: "d", cid: `${prefix}${n}`, kind: 1, body, ts: Date.now() };
    for (let attempt = 0; ; attempt++) {
      try {
        const r = await store.append(msg, { resend: attempt > 0 });
        messageLog.nc.publish(report, `ack ${n} ${r.message.seq} ${attempt + 1}`);
        break;
      } catch {
        // Unknown outcome or no owner reachable: resend after a moment, as the SDK does.
        await Bun.sleep(Math.min(50 * (attempt + 1), 500));
      }
    }
  }
}
await Promise.all(Array.from({ length: window }, lane));
messageLog.nc.publish(report, `done ${JSON.stringify(store.stats())}`);
// Exit only once the server has every report.
await messageLog.nc.flush();
await store.close();
process.exit(0);
