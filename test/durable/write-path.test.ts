// The durable write path end to end, on real engines: two edge processes acknowledge sends once
// they are in the JetStream log (fsync before ack), write-behind worker processes copy the log
// into Cassandra 5. The faults are real: Cassandra stopped for a minute, a worker SIGKILLed
// between its store write and its log ack, nats-server SIGKILLed and restarted.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import cassandra from "cassandra-driver";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadSigningKey } from "../../src/auth/keyring.ts";
import { mintAccessToken } from "../../src/auth/tokens.ts";
import { Client, MessageKind, type WireMessage } from "../../src/sdk/index.ts";
import { startChild, startWorkerChild, type ChildServer, type ChildWorker } from "../helpers/child-server.ts";
import { collect, nextEvent, text, until } from "../helpers/harness.ts";
import { startCassandra, type CassandraServer } from "../helpers/services/cassandra.ts";
import { startNats, type NatsServer } from "../helpers/services/nats.ts";
import { startPostgres } from "../helpers/services/postgres.ts";
import { startRedis } from "../helpers/services/redis.ts";
import { unlimitedEnv } from "../helpers/limits.ts";
import { sharedSecrets } from "../helpers/cluster-secrets.ts";

const KEYSPACE = "msgr_e2e";

let nats: NatsServer;
let cass: CassandraServer;
let redis: Awaited<ReturnType<typeof startRedis>>;
let pg: Awaited<ReturnType<typeof startPostgres>>;
let cql: cassandra.Client;
let root: string;
let keysFile: string;
/** The key files and media directory every edge shares (cluster mode refuses per-edge ones). */
let shared: Record<string, string>;
let e1: ChildServer;
let e2: ChildServer;
const workers: ChildWorker[] = [];
const clients: Client[] = [];

function env(): Record<string, string> {
  return {
    ...shared,
    MSGR_BACKENDS_BUS: "nats",
    MSGR_BACKENDS_PRESENCE: "redis",
    MSGR_BACKENDS_METADATA: "postgres",
    MSGR_BACKENDS_MESSAGES: "jetstream",
    MSGR_NATS_SERVERS: nats.url,
    MSGR_REDIS_URL: redis.url,
    MSGR_POSTGRES_URL: pg.url,
    MSGR_CASSANDRA_CONTACT_POINTS: cass.contactPoint,
    MSGR_CASSANDRA_LOCAL_DATA_CENTER: cass.localDataCenter,
    MSGR_CASSANDRA_KEYSPACE: KEYSPACE,
    MSGR_CASSANDRA_REQUEST_TIMEOUT_MS: "3000",
    MSGR_JETSTREAM_PUBLISH_TIMEOUT_MS: "2000",
    // What a killed worker held goes to the next one after 5 s instead of 30.
    MSGR_WORKER_ACK_WAIT_MS: "5000",
    MSGR_HEARTBEAT_INTERVAL_MS: "1000",
    MSGR_HEARTBEAT_TIMEOUT_MS: "5000",
    ...unlimitedEnv(),
    MSGR_LOG_LEVEL: "info",
  };
}

async function startEdge(nodeId: number): Promise<ChildServer> {
  return startChild({ ...env(), MSGR_SERVER_NODE_ID: String(nodeId), MSGR_SERVER_DATA_DIR: join(root, `edge-${nodeId}`) });
}

async function startWorker(extra: Record<string, string> = {}): Promise<ChildWorker> {
  const w = await startWorkerChild({ ...env(), MSGR_SERVER_NODE_ID: String(100 + workers.length), MSGR_WORKER_BATCH_SIZE: "256", ...extra });
  workers.push(w);
  return w;
}

async function client(user: string, url: string): Promise<Client> {
  const device = `${user}-dev`;
  const key = await loadSigningKey(keysFile);
  // Correctness under load, not latency: on this shared 2-core machine, with Cassandra reading
  // 1,000 conversations' first seqs at once, an ack may take longer than the SDK's 15 s default.
  const c = new Client({ url, token: () => mintAccessToken(key, { user, device, ttlSec: 3600, audience: "msgr" }), minBackoffMs: 50, maxBackoffMs: 500, requestTimeoutMs: 90_000 });
  clients.push(c);
  const synced = nextEvent(c, "synced", undefined, 30_000);
  await c.connect();
  await synced;
  return c;
}

interface Row {
  seq: number;
  from: string;
  cid: string;
  body: string;
}

/** Every row the store holds for a conversation, by seq. */
async function storedRows(conv: string): Promise<Row[]> {
  const out: Row[] = [];
  const buckets = (await cql.execute(`SELECT bucket FROM ${KEYSPACE}.conv_buckets WHERE conv = ?`, [conv], { prepare: true })).rows;
  for (const { bucket } of buckets) {
    const rows = await cql.execute(`SELECT seq, sender, cid, body FROM ${KEYSPACE}.messages WHERE conv = ? AND bucket = ?`, [conv, bucket], { prepare: true, fetchSize: 100_000 });
    for (const r of rows.rows) out.push({ seq: Number(r.seq), from: r.sender, cid: r.cid, body: new TextDecoder().decode(r.body) });
  }
  return out.sort((a, b) => a.seq - b.seq);
}

/** Waits until the store holds `count` rows for `conv` (the workers drain the log behind the acks). */
async function storedEventually(conv: string, count: number, timeoutMs = 120_000): Promise<Row[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    // Right after Cassandra's restart the driver may not have reconnected yet.
    const rows = await storedRows(conv).catch(() => []);
    if (rows.length >= count || Date.now() > deadline) return rows;
    await Bun.sleep(250);
  }
}

function expectContiguous(rows: Row[]): void {
  expect(rows.map((r) => r.seq)).toEqual(Array.from({ length: rows.length }, (_, i) => i + 1));
}

/** Seq of each acknowledged message by body, and when each ack arrived. */
interface Sent {
  acks: Map<string, number>;
  ackTimes: number[];
}

/**
 * Sends `count` messages with at most `window` unacknowledged, pausing `pauseMs` after each ack.
 * The SDK resends a message whose ack did not come (same client id) until it is acknowledged.
 */
async function sendAll(c: Client, conv: string, prefix: string, count: number, window = 64, pauseMs = 0): Promise<Sent> {
  const sent: Sent = { acks: new Map(), ackTimes: [] };
  let next = 0;
  const lane = async () => {
    while (next < count) {
      const body = `${prefix}-${next++}`;
      const ack = await c.send(conv, body);
      sent.acks.set(body, ack.seq);
      sent.ackTimes.push(Date.now());
      if (pauseMs) await Bun.sleep(pauseMs);
    }
  };
  await Promise.all(Array.from({ length: window }, lane));
  return sent;
}

/** Checks that the store holds exactly the acknowledged messages of `sent`, each once at its acked seq. */
function expectStoredOnce(rows: Row[], sent: Sent[], extra = 0): void {
  expectContiguous(rows);
  expect(rows).toHaveLength(sent.reduce((n, s) => n + s.acks.size, 0) + extra);
  const acked = new Map(sent.flatMap((s) => [...s.acks]));
  for (const r of rows) if (acked.has(r.body)) expect(acked.get(r.body)).toBe(r.seq);
  expect(rows.filter((r) => acked.has(r.body))).toHaveLength(acked.size);
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "msgr-durable-"));
  ({ keysFile, env: shared } = await sharedSecrets(root));
  [nats, cass, redis, pg] = await Promise.all([startNats({ jetstream: true }), startCassandra(), startRedis(), startPostgres()]);
  cql = new cassandra.Client({
    contactPoints: [cass.contactPoint],
    localDataCenter: cass.localDataCenter,
    encoding: { useBigIntAsLong: true },
    // Back within a second of Cassandra's restart (the default backoff grows to minutes).
    policies: { reconnection: new cassandra.policies.reconnection.ConstantReconnectionPolicy(500) },
  });
  await cql.connect();
  e1 = await startEdge(1); // the first edge applies the migrations and creates the stream and keyspace
  e2 = await startEdge(2);
  await startWorker();
}, 300_000);

afterAll(async () => {
  for (const c of clients) c.close();
  for (const p of [e1, e2, ...workers]) p?.proc.kill(9);
  await cql?.shutdown();
  await Promise.allSettled([nats?.stop(), cass?.stop(), redis?.stop(), pg?.stop()]);
  rmSync(root, { recursive: true, force: true });
});

const bodies = (log: WireMessage[], conv: string) => log.filter((m) => m.conv === conv && m.kind === MessageKind.Text).map((m) => [m.seq, text(m)] as const);

describe("durable write path: JetStream log, write-behind workers, Cassandra", () => {
  test("10,000 messages into one conversation from two edges plus 1,000 other conversations: stored once, in delivered order, contiguous", async () => {
    const [s1, r1] = await Promise.all([client("s1", e1.wsUrl), client("r1", e1.wsUrl)]);
    const [s2, r2] = await Promise.all([client("s2", e2.wsUrl), client("r2", e2.wsUrl)]);
    const logs = [collect(r1), collect(r2)];
    const g = await s1.createGroup("hot", ["s2", "r1", "r2"]);
    await until(() => [s2, r1, r2].every((c) => c.cursors()[g.id] !== undefined), 30_000, "every member to learn the group");

    // The other conversations: 1,000 direct conversations, one message each, from both edges.
    const spread = async (c: Client, from: number) => {
      for (let i = from; i < from + 500; i += 25) {
        await Promise.all(Array.from({ length: 25 }, async (_, k) => c.send((await c.openDirect(`peer${i + k}`)).id, `direct-${i + k}`)));
      }
    };
    const started = performance.now();
    const after = <T>(p: Promise<T>, set: (ms: number) => void) => p.finally(() => set(performance.now() - started));
    let hotAfter = 0;
    let spreadAfter = 0;
    const [[sent1, sent2]] = await Promise.all([
      after(Promise.all([sendAll(s1, g.id, "a", 5000), sendAll(s2, g.id, "b", 5000)]), (ms) => (hotAfter = ms)),
      after(Promise.all([spread(s1, 0), spread(s2, 500)]), (ms) => (spreadAfter = ms)),
    ]);
    const ackedAfter = performance.now() - started;
    expect(sent1.acks.size + sent2.acks.size).toBe(10_000);

    await until(() => logs.every((l) => bodies(l, g.id).length === 10_000), 120_000, "both receivers to get 10,000 messages");
    const deliveredAfter = performance.now() - started;
    const rows = await storedEventually(g.id, 10_000 + 1);
    // A figure for the record (docs/durability.md), never asserted: timings belong in bench/.
    const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
    console.log(
      `10,000-message conversation: its messages acked after ${s(hotAfter)} (the 1,000 direct conversations after ${s(spreadAfter)}), all acked after ${s(ackedAfter)}, delivered to both receivers after ${s(deliveredAfter)}, stored after ${s(performance.now() - started)}`,
    );
    expectContiguous(rows);
    const texts = rows.filter((r) => r.cid !== "");
    expect(texts).toHaveLength(10_000);
    expect(new Set(texts.map((r) => r.body)).size).toBe(10_000);
    // Stored order is the order every device received, and every ack named the stored seq.
    const stored = texts.map((r) => [r.seq, r.body] as const);
    for (const l of logs) expect(bodies(l, g.id)).toEqual(stored);
    expectStoredOnce(rows, [sent1, sent2], rows.length - 10_000);

    // Each direct conversation holds its one message once.
    const directs = await cql.execute(`SELECT conv, seq, body FROM ${KEYSPACE}.messages`, [], { fetchSize: 100_000 });
    const direct = directs.rows.filter((r) => new TextDecoder().decode(r.body).startsWith("direct-"));
    expect(direct).toHaveLength(1000);
    expect(new Set(direct.map((r) => r.conv)).size).toBe(1000);

    // The worker's /metrics shows the drained backlog (its last acks may still be on their way) and how it batched.
    let metrics = "";
    const deadline = Date.now() + 10_000;
    while (!/^msgr_worker_backlog 0$/m.test(metrics) && Date.now() < deadline) {
      metrics = await (await fetch(workers[0]!.metricsUrl)).text();
      await Bun.sleep(100);
    }
    expect(metrics).toMatch(/^msgr_worker_backlog 0$/m);
    const written = Number(/^msgr_worker_messages_written_total (\d+)$/m.exec(metrics)?.[1]);
    const batches = Number(/^msgr_worker_batch_size_count (\d+)$/m.exec(metrics)?.[1]);
    expect(written).toBeGreaterThanOrEqual(11_000);
    expect(batches).toBeGreaterThan(0);
    expect(batches).toBeLessThan(written);
  }, 600_000);

  test("Cassandra stopped for 60 s during traffic: acks continue, every message reaches the store once", async () => {
    const [a, b] = await Promise.all([client("oa", e1.wsUrl), client("ob", e2.wsUrl)]);
    const conv = await a.openDirect("ob");
    // About 13 messages a second for about 75 s.
    const traffic = Promise.all([sendAll(a, conv.id, "a", 500, 2, 300), sendAll(b, conv.id, "b", 500, 2, 300)]);
    await Bun.sleep(3_000);
    await cass.pause();
    const pausedAt = Date.now();
    await Bun.sleep(60_000);
    const resumedAt = Date.now();
    await cass.resume();
    const sent = await traffic;
    // Acks keep coming while the store is down: about 13 a second nominally (some 750 in the
    // window); a store that blocked the acks would leave next to none. A busy machine only slows
    // them, so the bound is far below the nominal count.
    const duringOutage = sent.flatMap((s) => s.ackTimes).filter((t) => t > pausedAt + 1_000 && t < resumedAt - 1_000);
    expect(duringOutage.length).toBeGreaterThan(150);
    expectStoredOnce(await storedEventually(conv.id, 1000, 180_000), sent);
  }, 400_000);

  test("a worker SIGKILLed between its store write and its log ack: nothing lost, nothing duplicated", async () => {
    const [a, b] = await Promise.all([client("ka", e1.wsUrl), client("kb", e2.wsUrl)]);
    const conv = await a.openDirect("kb");
    // The running worker stops (draining), and one that kills itself after its 3rd write takes over.
    const steady = workers.shift()!;
    steady.proc.kill("SIGTERM");
    expect(await steady.exited).toBe(0);
    const doomed = await startWorker({ MSGR_FAULT_KILL_AFTER_STORE_WRITES: "3", MSGR_WORKER_BATCH_SIZE: "16" });
    const sent = await Promise.all([sendAll(a, conv.id, "a", 300, 4), sendAll(b, conv.id, "b", 300, 4)]);
    await doomed.exited;
    expect(doomed.proc.signalCode).toBe("SIGKILL");
    workers.splice(workers.indexOf(doomed), 1);
    await startWorker();
    expectStoredOnce(await storedEventually(conv.id, 600), sent);
  }, 120_000);

  test("nats-server SIGKILLed and restarted during traffic: every acknowledged message survives", async () => {
    const [a, b] = await Promise.all([client("na", e1.wsUrl), client("nb", e2.wsUrl)]);
    const conv = await a.openDirect("nb");
    const traffic = Promise.all([sendAll(a, conv.id, "a", 300, 4, 20), sendAll(b, conv.id, "b", 300, 4, 20)]);
    await Bun.sleep(1_000);
    await nats.restart();
    const sent = await traffic;
    expectStoredOnce(await storedEventually(conv.id, 600, 120_000), sent);
  }, 180_000);
});
