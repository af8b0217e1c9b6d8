// The log-backed MessageStore (JetStream log + Cassandra history) on a real nats-server with
// JetStream and a real Cassandra 5, started by the test helpers. The message contract runs twice:
// with nothing flushed (every read is read through from the log) and with a write-behind worker
// flushing as the test goes (reads mix store rows and the unflushed tail). Then what only this
// backend has: fencing between two writers, idempotent worker replays, the store's dedupe key
// after the log's window, TTL retention and partitions that cross a bucket.

import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import cassandra from "cassandra-driver";
import { connect, type NatsConnection } from "nats";
import pino from "pino";
import { CassandraHistory } from "../../src/storage/cassandra/history-store.ts";
import { BUCKET_SEQS } from "../../src/storage/cassandra/schema.ts";
import { MessageLog, type LogEntry } from "../../src/storage/jetstream/message-log.ts";
import { LogBackedMessageStore } from "../../src/storage/jetstream/message-store.ts";
import type { StoredMessage } from "../../src/storage/types.ts";
import { WorkerMetrics } from "../../src/worker/metrics.ts";
import { WriteBehindWorker } from "../../src/worker/write-behind.ts";
import { startCassandra, type CassandraServer } from "../helpers/services/cassandra.ts";
import { startNats, type NatsServer } from "../helpers/services/nats.ts";
import { message, messageStoreContract } from "./message-store.contract.ts";

const log = pino({ level: "silent" });
const KEYSPACE = "msgr_test";

let nats: NatsServer;
let cass: CassandraServer;
/** For checks on the raw tables. */
let cql: cassandra.Client;
/** To delete each test's stream (every stream takes the same subjects, so only one may exist at a time). */
let admin: NatsConnection;

beforeAll(async () => {
  [nats, cass] = await Promise.all([startNats({ jetstream: true }), startCassandra()]);
  cql = new cassandra.Client({ contactPoints: [cass.contactPoint], localDataCenter: cass.localDataCenter, encoding: { useBigIntAsLong: true } });
  await cql.connect();
  admin = await connect({ servers: nats.url });
}, 240_000);
afterAll(async () => {
  await admin?.close();
  await cql?.shutdown();
  await Promise.all([nats?.stop(), cass?.stop()]);
});

let streams = 0;

interface Opened {
  store: LogBackedMessageStore;
  log: MessageLog;
  history: CassandraHistory;
  close(): Promise<void>;
}

/** A store on a fresh stream (deleted on close); the keyspace is shared, so its tables are emptied on close. */
async function openStore(opts: { stream?: string; duplicateWindowSeconds?: number; ttlSeconds?: number } = {}): Promise<Opened> {
  const stream = opts.stream ?? `T${++streams}`;
  const messageLog = await MessageLog.open({
    servers: [nats.url],
    stream,
    replicas: 1,
    maxAgeSeconds: 3600,
    duplicateWindowSeconds: opts.duplicateWindowSeconds ?? 60,
    publishTimeoutMs: 5000,
    name: "test",
    log,
  });
  const history = await CassandraHistory.open({
    contactPoints: [cass.contactPoint],
    localDataCenter: cass.localDataCenter,
    keyspace: KEYSPACE,
    replicationFactor: 1,
    consistency: "localQuorum",
    requestTimeoutMs: 10_000,
    ttlSeconds: opts.ttlSeconds ?? 0,
    log,
  });
  const store = new LogBackedMessageStore(messageLog, history, log);
  return {
    store,
    log: messageLog,
    history,
    async close() {
      await store.close();
      await (await admin.jetstreamManager()).streams.delete(stream).catch(() => {});
      for (const table of ["messages", "conv_buckets", "client_ids", "sender_last"]) await cql.execute(`TRUNCATE ${KEYSPACE}.${table}`);
    },
  };
}

async function startWorker(o: Opened, batchWaitMs = 5): Promise<WriteBehindWorker> {
  let worker: WriteBehindWorker | undefined;
  const metrics = new WorkerMetrics(() => worker!.backlog());
  // The store's own log connection: the worker only needs the stream, not a process of its own.
  worker = new WriteBehindWorker(o.log, o.history, { consumer: "writer", batchSize: 64, batchWaitMs, writeMode: "batch", maxRetryDelayMs: 500, ackWaitMs: 30_000 }, metrics, log);
  await worker.start();
  return worker;
}

async function storedRows(conv: string): Promise<number[]> {
  const rows = (await cql.execute(`SELECT seq FROM ${KEYSPACE}.messages WHERE conv = ? AND bucket = 0`, [conv], { prepare: true })).rows;
  return rows.map((r) => Number(r.seq)).sort((a, b) => a - b);
}

async function until(check: () => Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(25);
  }
}

messageStoreContract(
  "log-backed store, nothing flushed (reads come from the log)",
  async () => {
    const o = await openStore();
    return { store: o.store, close: o.close };
  },
  { prunes: false },
);

messageStoreContract(
  "log-backed store with a worker flushing to Cassandra as it goes",
  async () => {
    const o = await openStore();
    const worker = await startWorker(o);
    return {
      store: o.store,
      close: async () => {
        await worker.stop();
        await o.close();
      },
    };
  },
  { prunes: false },
);

describe("log-backed store", () => {
  let opened: Opened[] = [];
  const open = async (opts?: Parameters<typeof openStore>[0]) => {
    const o = await openStore(opts);
    opened.push(o);
    return o;
  };
  afterEach(async () => {
    for (const o of opened.reverse()) await o.close();
    opened = [];
  });

  test("the stream is file-backed, limits-retained by age, deduplicating, and brought in line with the config on open", async () => {
    const o = await open({ duplicateWindowSeconds: 30 });
    const jsm = await admin.jetstreamManager();
    const created = (await jsm.streams.info(o.log.stream)).config;
    expect(created).toMatchObject({ storage: "file", retention: "limits", discard: "old", num_replicas: 1, allow_direct: true, subjects: ["msgr.log.*"] });
    expect(created.max_age).toBe(3600 * 1e9);
    expect(created.duplicate_window).toBe(30 * 1e9);
    // Another node opening it with a new duplicate window updates the stream, keeping its messages.
    await o.store.append(message("c1", 1));
    const again = await open({ stream: o.log.stream, duplicateWindowSeconds: 90 });
    expect((await jsm.streams.info(o.log.stream)).config.duplicate_window).toBe(90 * 1e9);
    expect(await again.store.lastSeq("c1")).toBe(1);
  });

  test("two writers on one conversation (two nodes) get one contiguous order, each message once", async () => {
    const a = await open();
    const b = await open({ stream: `T${streams}` });
    const sends = [];
    for (let n = 1; n <= 150; n++) {
      sends.push(a.store.append(message("race", n, { from: "alice", cid: `a${n}` })));
      sends.push(b.store.append(message("race", n, { from: "bob", cid: `b${n}` })));
    }
    const results = await Promise.all(sends);
    expect(results.every((r) => !r.duplicate)).toBe(true);
    expect(results.map((r) => r.message.seq).sort((x, y) => x - y)).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    // Both nodes read the same order, and each node's own messages keep their call order.
    const fromA = await a.store.range("race", 0, 500);
    expect(await b.store.range("race", 0, 500)).toEqual(fromA);
    const cids = (from: string) => fromA.filter((m) => m.from === from).map((m) => m.cid);
    expect(cids("alice")).toEqual(Array.from({ length: 150 }, (_, i) => `a${i + 1}`));
    expect(cids("bob")).toEqual(Array.from({ length: 150 }, (_, i) => `b${i + 1}`));
  });

  test("the worker writes every entry once; replaying entries writes identical rows", async () => {
    const o = await open();
    for (let n = 1; n <= 20; n++) await o.store.append(message("c1", n));
    const worker = await startWorker(o);
    await until(async () => (await storedRows("c1")).length === 20, "the worker to flush 20 messages");
    await worker.stop();
    // Replay everything, as a worker that crashed before acknowledging would.
    const entries: LogEntry[] = [];
    await o.log.walk("c1", 1, (e) => (entries.push(e), true));
    await o.history.write(entries, "batch");
    await o.history.write(entries, "concurrent");
    expect(await storedRows("c1")).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(await o.history.range("c1", 0, 20, 100)).toEqual(entries);
  });

  test("a resend (marked so by the client) after the log's duplicate window is answered from the store's client-id key", async () => {
    const o = await open({ duplicateWindowSeconds: 1 });
    const first = await o.store.append(message("c1", 1, { cid: "late" }));
    const worker = await startWorker(o);
    await until(async () => (await storedRows("c1")).length === 1, "the worker to flush");
    await Bun.sleep(1_500);
    expect(await o.store.append(message("c1", 2, { cid: "late", body: new Uint8Array([7]) }), { resend: true })).toEqual({ message: first.message, duplicate: true });
    expect(await o.store.lastSeq("c1")).toBe(1);
    await worker.stop();
  });

  test("rows carry the retention TTL and the store does not prune", async () => {
    const o = await open({ ttlSeconds: 3600 });
    await o.store.append(message("c1", 1));
    const worker = await startWorker(o);
    await until(async () => (await storedRows("c1")).length === 1, "the worker to flush");
    const [row] = (await cql.execute(`SELECT TTL(body) AS ttl FROM ${KEYSPACE}.messages WHERE conv = 'c1' AND bucket = 0`)).rows;
    expect(Number(row?.ttl)).toBeGreaterThan(3500);
    expect(Number(row?.ttl)).toBeLessThanOrEqual(3600);
    expect(await o.store.pruneBefore()).toBe(0);
    await worker.stop();
  });

  test("ranges and history cross partition buckets", async () => {
    const o = await open();
    // Written straight to the store (the log has none of them): seqs on both sides of a bucket edge.
    const seqs = Array.from({ length: 10 }, (_, i) => BUCKET_SEQS - 5 + i);
    const entries = seqs.map((seq, i): LogEntry => ({ message: { ...message("edge", i + 1), seq } as StoredMessage, logSeq: i + 1 }));
    await o.history.write(entries, "batch");
    expect((await o.history.range("edge", BUCKET_SEQS - 3, BUCKET_SEQS + 10, 5)).map((e) => e.message.seq)).toEqual(seqs.slice(3, 8));
    expect((await o.history.history("edge", BUCKET_SEQS + 2, 0, 4)).map((e) => e.message.seq)).toEqual([BUCKET_SEQS + 1, BUCKET_SEQS, BUCKET_SEQS - 1, BUCKET_SEQS - 2]);
    expect((await o.history.newestBelow("edge"))?.message.seq).toBe(BUCKET_SEQS + 4);
    expect(await o.history.oldestSeq("edge")).toBe(BUCKET_SEQS - 5);
    expect(await o.store.firstRetainedSeq("edge")).toBe(BUCKET_SEQS - 5);
  });

  test("a read through the log spans several batched gets, in order, with other conversations interleaved", async () => {
    const o = await open();
    await Promise.all(Array.from({ length: 600 }, (_, i) => o.store.append(message(i % 2 ? "odd" : "even", i + 1, { from: i % 3 ? "alice" : "bob" }))));
    const even = await o.store.range("even", 0, 1000);
    expect(even.map((m) => m.seq)).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    expect(even.map((m) => m.cid)).toEqual(Array.from({ length: 300 }, (_, i) => `even-${2 * i + 1}`));
    expect((await o.store.history("odd", 301, 300)).map((m) => m.seq)).toEqual(Array.from({ length: 300 }, (_, i) => 300 - i));
    const last = new Map<string, number>();
    for (const m of even) last.set(m.from, m.seq);
    expect(await o.store.lastSeqBySender("even")).toEqual(last);
  });

  test("messages acked while the worker is behind are read through from the log", async () => {
    const o = await open();
    for (let n = 1; n <= 10; n++) await o.store.append(message("c1", n));
    const worker = await startWorker(o);
    await until(async () => (await storedRows("c1")).length === 10, "the worker to flush");
    await worker.stop();
    for (let n = 11; n <= 15; n++) await o.store.append(message("c1", n));
    expect(await storedRows("c1")).toHaveLength(10);
    expect((await o.store.range("c1", 8, 100)).map((m) => m.seq)).toEqual([9, 10, 11, 12, 13, 14, 15]);
    expect((await o.store.history("c1", 100, 4)).map((m) => m.seq)).toEqual([15, 14, 13, 12]);
    expect(await o.store.lastSeqBySender("c1")).toEqual(new Map([["alice", 15]]));
  });
});
