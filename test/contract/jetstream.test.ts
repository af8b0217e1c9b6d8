// The log-backed MessageStore (sharded JetStream log + Cassandra history) on a real nats-server
// with JetStream and a real Cassandra 5, started by the test helpers. The message contract runs
// twice: with nothing flushed (every read is read through from the log) and with a write-behind
// worker flushing as the test goes (reads mix store rows and the unflushed tail). Then what only
// this backend has: group commit into envelopes, shard ownership with forwarding between two
// stores (two edges), idempotent worker replays, the store's dedupe key after the window, TTL
// retention and partitions that cross a bucket. Last, failover: an owner SIGKILLed mid-batch, a
// lease taken over after its owner went silent, a cleanly closed owner handing over at once, and
// two owners racing (a stalled owner that wakes up after a takeover). Lease TTLs run on manual
// clocks: a test expires a lease by advancing the clock, never by waiting.

import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { spawn, type Subprocess } from "bun";
import cassandra from "cassandra-driver";
import { connect, type NatsConnection, type Subscription } from "nats";
import pino from "pino";
import { CassandraHistory } from "../../src/storage/cassandra/history-store.ts";
import { BUCKET_SEQS } from "../../src/storage/cassandra/schema.ts";
import type { LogEntry } from "../../src/storage/jetstream/envelope.ts";
import { LayoutMismatchError, MessageLog } from "../../src/storage/jetstream/message-log.ts";
import { LogBackedMessageStore } from "../../src/storage/jetstream/message-store.ts";
import type { WriterStats } from "../../src/storage/jetstream/shard-writers.ts";
import type { AppendResult, NewMessage, StoredMessage } from "../../src/storage/types.ts";
import { WorkerMetrics } from "../../src/worker/metrics.ts";
import { WriteBehindWorker } from "../../src/worker/write-behind.ts";
import { ManualClock } from "../../src/clock.ts";
import { startCassandra, type CassandraServer } from "../helpers/services/cassandra.ts";
import { startNats, type NatsServer } from "../helpers/services/nats.ts";
import { until } from "../helpers/wait.ts";
import { message, messageStoreContract } from "./message-store.contract.ts";

const log = pino({ level: "silent" });
const KEYSPACE = "msgr_test";
const TABLES = ["messages", "conv_buckets", "client_ids", "sender_last", "conv_last"];
const SHARDS = 4;
const LEASE_TTL_MS = 3_000;
/** How long a test's cleanup may take: a truncation on a node that has just booted (below). */
const CLEANUP_MS = 120_000;

let nats: NatsServer;
let cass: CassandraServer;
/** For checks on the raw tables. */
let cql: cassandra.Client;
/** To delete each test's streams. */
let admin: NatsConnection;

beforeAll(async () => {
  [nats, cass] = await Promise.all([startNats({ jetstream: true }), startCassandra()]);
  // TRUNCATE waits for the table's compactions to stop, and a node that has just booted on a
  // loaded machine can take longer than the driver's 12 s default for that: in one CI run the
  // cleanup after each of the first four tests timed out there. A truncation gets CLEANUP_MS (as
  // does the node's truncate_request_timeout, infra/services/cassandra.sh).
  cql = new cassandra.Client({ contactPoints: [cass.contactPoint], localDataCenter: cass.localDataCenter, encoding: { useBigIntAsLong: true }, socketOptions: { readTimeout: CLEANUP_MS } });
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
  clock: ManualClock;
  close(): Promise<void>;
}

interface OpenOptions {
  stream?: string;
  shards?: number;
  duplicateWindowSeconds?: number;
  ttlSeconds?: number;
  maxAgeSeconds?: number;
  /** 0: owners keep no recent messages, so every read goes through the history store and the log. */
  recentBytes?: number;
}

async function openLog(stream: string, opts: OpenOptions = {}): Promise<MessageLog> {
  return MessageLog.open({
    servers: [nats.url],
    stream,
    shards: opts.shards ?? SHARDS,
    replicas: 1,
    maxAgeSeconds: opts.maxAgeSeconds ?? 3600,
    duplicateWindowSeconds: opts.duplicateWindowSeconds ?? 60,
    publishTimeoutMs: 2000,
    leaseTtlMs: LEASE_TTL_MS,
    consumer: "writer",
    name: "test",
    log,
  });
}

/** Every stream a test opened, deleted with the lease bucket after it. */
const created = new Set<string>();

/** A store on fresh streams (unless `stream` names a log another store opened): one edge. The keyspace is shared; its tables are emptied after each test. */
async function openStore(opts: OpenOptions = {}): Promise<Opened> {
  const stream = opts.stream ?? `T${++streams}`;
  created.add(stream);
  const messageLog = await openLog(stream, opts);
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
  const clock = new ManualClock();
  const store = new LogBackedMessageStore(messageLog, history, log, { name: "edge", leaseTtlMs: LEASE_TTL_MS, duplicateWindowMs: (opts.duplicateWindowSeconds ?? 60) * 1000, clock, recentBytes: opts.recentBytes });
  return { store, log: messageLog, history, clock, close: () => store.close() };
}

async function cleanUp(): Promise<void> {
  const jsm = await admin.jetstreamManager();
  for (const stream of created) {
    for (let shard = 0; shard < 16; shard++) await jsm.streams.delete(`${stream}-${shard}`).catch(() => {});
    await jsm.streams.delete(`KV_${stream}_OWNERS`).catch(() => {});
  }
  created.clear();
  for (const table of TABLES) await cql.execute(`TRUNCATE ${KEYSPACE}.${table}`);
}

async function startWorker(o: Opened, batchWaitMs = 5): Promise<WriteBehindWorker> {
  let worker: WriteBehindWorker | undefined;
  const metrics = new WorkerMetrics(() => worker!.backlog());
  // The store's own log connection: the worker only needs the streams, not a process of its own.
  worker = new WriteBehindWorker(o.log, o.history, { consumer: "writer", batchSize: 64, batchWaitMs, writesInFlight: 2, writeMode: "batch", maxRetryDelayMs: 500, ackWaitMs: 30_000 }, metrics, log);
  await worker.start();
  return worker;
}

async function storedRows(conv: string): Promise<number[]> {
  const rows = (await cql.execute(`SELECT seq FROM ${KEYSPACE}.messages WHERE conv = ? AND bucket = 0`, [conv], { prepare: true })).rows;
  return rows.map((r) => Number(r.seq)).sort((a, b) => a - b);
}

/** Every message of `conv` in the log, in log order, read envelope by envelope (duplicates would show). */
async function logged(l: MessageLog, conv: string): Promise<StoredMessage[]> {
  const out: StoredMessage[] = [];
  await l.walk(l.layout.shardOf(conv), 1, (env) => {
    for (const m of env.messages) if (m.conv === conv) out.push(m);
    return true;
  });
  return out;
}

const range1 = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

// Failover first, straight after the engines start, and this file in a bun test process of its
// own (test/run.sh): in full CI runs the first failover test lost every report of its child writer
// at once, and then its own NATS connection, when other files or the tests below had run before it
// in the same process (bun test at times also printed "killed N dangling processes", its timeout
// handling, though no test had timed out). Never seen alone; the cause is not known.
describe("failover", () => {
  let opened: Opened[] = [];
  let children: Subprocess<"ignore", "inherit", "inherit">[] = [];
  let subscriptions: Subscription[] = [];
  const open = async (opts?: OpenOptions) => {
    const o = await openStore(opts);
    opened.push(o);
    return o;
  };
  /** Set while a test's stores close: appendUntilAcked stops resending (a closed store refuses at once, and forever). */
  let ending = false;
  afterEach(async () => {
    ending = true;
    for (const c of children) c.kill("SIGKILL");
    await Promise.all(children.map((c) => c.exited));
    children = [];
    for (const sub of subscriptions) sub.unsubscribe();
    subscriptions = [];
    for (const o of opened.reverse()) await o.close();
    opened = [];
    await cleanUp();
    ending = false;
  }, CLEANUP_MS + 60_000);

  /**
   * A store in a child process (test/helpers/log-writer.ts) appending `count` messages to `conv`;
   * its acks as they come, on a NATS subject. Not over a pipe to this process: in full CI runs,
   * twice over a stdout pipe and once over Bun's IPC channel, the child stored all its messages
   * and exited 0 while this process received none of its reports (once the child's write failed
   * with EPIPE: this end had been closed). Not reproduced alone; NATS takes this process's pipes
   * out of the way, and the subscription is made before the child starts.
   */
  async function writerProcess(stream: string, conv: string, count: number, window: number, extraEnv: Record<string, string> = {}) {
    /** cid -> acked seq. */
    const acks = new Map<string, number>();
    /** The cids acknowledged only after a resend. */
    const resent = new Set<string>();
    let done = false;
    let stats: WriterStats | undefined;
    const listeners = new Set<() => void>();
    const report = `test.writer.${stream}.${conv}`;
    const sub = admin.subscribe(report, {
      callback: (_err, m) => {
        const [what, n, seq, attempts] = m.string().split(" ");
        if (what === "ack") {
          acks.set(`w${n}`, Number(seq));
          if (Number(attempts) > 1) resent.add(`w${n}`);
        }
        if (what === "done") {
          done = true;
          stats = JSON.parse(n!) as WriterStats;
        }
        for (const l of listeners) l();
      },
    });
    subscriptions.push(sub);
    // The server has the subscription before the child can publish.
    await admin.flush();
    const proc = spawn([process.execPath, "test/helpers/log-writer.ts"], {
      cwd: new URL("../..", import.meta.url).pathname,
      env: {
        ...process.env,
        MSGR_TEST_NATS: nats.url,
        MSGR_TEST_CASSANDRA: cass.contactPoint,
        MSGR_TEST_DC: cass.localDataCenter,
        MSGR_TEST_KEYSPACE: KEYSPACE,
        MSGR_TEST_STREAM: stream,
        MSGR_TEST_SHARDS: String(SHARDS),
        MSGR_TEST_LEASE_TTL_MS: String(LEASE_TTL_MS),
        MSGR_TEST_CONV: conv,
        MSGR_TEST_COUNT: String(count),
        MSGR_TEST_WINDOW: String(window),
        MSGR_TEST_REPORT: report,
        ...extraEnv,
      },
      stdin: "ignore",
      stdout: "inherit",
      stderr: "inherit",
    });
    children.push(proc);
    /** Resolves once `cond` holds over what the child printed. */
    const when = (cond: () => boolean, timeoutMs = 60_000) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`child: condition not met; ${acks.size} acks, done ${done}, exit ${proc.exitCode}`)), timeoutMs);
        const check = () => {
          if (!cond()) return;
          clearTimeout(timer);
          listeners.delete(check);
          resolve();
        };
        listeners.add(check);
        check();
      });
    return { proc, acks, resent, when, isDone: () => done, stats: () => stats };
  }

  /**
   * Appends like a client: resends (same client id, marked) until acknowledged; adds the cid to
   * `resent` if it took more than one attempt. Gives up once the test ends: a failed test leaves
   * its sends unacked, and resending into a closed store would spin without yielding.
   */
  function appendUntilAcked(store: LogBackedMessageStore, msg: NewMessage, resent?: Set<string>): Promise<AppendResult> {
    const p = resendUntilAcked(store, msg, resent);
    // A test that failed before awaiting its sends leaves them to reject once it ends: not an error of the next test.
    p.catch(() => {});
    return p;
  }

  async function resendUntilAcked(store: LogBackedMessageStore, msg: NewMessage, resent?: Set<string>): Promise<AppendResult> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await store.append(msg, { resend: attempt > 0 });
      } catch (err) {
        if (ending) throw err;
        // Unknown outcome or no owner reachable yet.
        resent?.add(msg.cid);
      }
    }
  }

  /**
   * Runs `o`'s clock on, a lease TTL every few milliseconds, until `o` has taken a shard over.
   * Not only while a timer waits on it: a contender that finds the owner silent waits on its clock
   * only while it holds appends, and a CI run (at 7c8a363) saw one that did not wait there once in
   * a minute. Time run on early only makes the contender's view of the lease older, so it takes
   * the shard over the next time it finds the owner silent.
   */
  async function runOutLease(o: Opened): Promise<void> {
    try {
      await until(
        () => {
          if (o.store.stats().takeovers > 0) return true;
          o.clock.advance(LEASE_TTL_MS);
          return false;
        },
        60_000,
        "the contender to take the shard over",
      );
    } catch (err) {
      throw new Error(`${(err as Error).message}; the contender's stats: ${JSON.stringify(o.store.stats())}`);
    }
  }

  /** The log holds every message of `conv` once, with seqs 1..n in log order, and each acked one at its acked seq. */
  function expectOnceInOrder(all: StoredMessage[], acked: Map<string, number>): void {
    expect(all.map((m) => m.seq)).toEqual(range1(1, all.length));
    expect(new Set(all.map((m) => m.cid)).size).toBe(all.length);
    const at = new Map(all.map((m) => [m.cid, m.seq]));
    for (const [cid, seq] of acked) expect(at.get(cid)).toBe(seq);
  }

  /**
   * A writer's messages (cid prefix + counter) appear in the log in its call order, apart from
   * those in `resent`: an append that failed (an unknown outcome, its sender told at once) and was
   * sent again is a later call, so it may land after appends made meanwhile.
   */
  function expectCallOrder(all: StoredMessage[], prefix: string, resent: ReadonlySet<string> = new Set()): void {
    const ns = all.filter((m) => m.cid.startsWith(prefix) && !resent.has(m.cid)).map((m) => Number(m.cid.slice(prefix.length)));
    expect(ns).toEqual([...ns].sort((x, y) => x - y));
  }

  test("an owner SIGKILLed mid-batch: another edge takes the shard over after the lease TTL; nothing acked is lost, nothing duplicated, no gap", async () => {
    const b = await open();
    const child = await writerProcess(b.log.layout.base, "k", 100_000, 256);
    await child.when(() => child.acks.size >= 2_000);
    child.proc.kill("SIGKILL");
    await child.proc.exited;
    const acked = new Map(child.acks);

    // The other edge's appends find no owner answering; its clock then runs out the lease.
    const sends = Array.from({ length: 100 }, (_, i) => appendUntilAcked(b.store, message("k", i + 1, { from: "bob", cid: `b${i}` })));
    await runOutLease(b);
    const results = await Promise.all(sends);
    expect(b.store.stats().takeovers).toBe(1);

    const all = await logged(b.log, "k");
    expectOnceInOrder(all, acked);
    expectCallOrder(all, "w", child.resent);
    // The new owner's messages come after everything the killed one stored, in call order.
    expect(results.map((r) => r.message.seq)).toEqual(range1(all.length - 99, all.length));
    expect((await b.store.range("k", 0, 200_000)).map((m) => m.cid)).toEqual(all.map((m) => m.cid));
  }, 120_000);

  test("a lease whose owner went silent is taken over only once the contender's clock has run a whole TTL", async () => {
    const a = await open();
    const b = await open({ stream: a.log.layout.base });
    for (let n = 1; n <= 10; n++) await a.store.append(message("s", n));
    // a is cut off without giving its lease up (its connection drops, as when its host dies).
    await a.log.nc.close();
    const next = b.store.append(message("s", 11, { from: "bob" }));
    await b.clock.pending();
    b.clock.advance(LEASE_TTL_MS - 1);
    await b.clock.pending();
    expect(b.store.stats().takeovers).toBe(0);
    b.clock.advance(1);
    expect((await next).message.seq).toBe(11);
    expect(b.store.stats().takeovers).toBe(1);
    expect((await logged(b.log, "s")).map((m) => m.seq)).toEqual(range1(1, 11));
  });

  test("an owner closed cleanly gives its lease up: another edge takes the shard at once, without waiting out the TTL", async () => {
    const a = await openStore();
    const b = await open({ stream: a.log.layout.base });
    await Promise.all(range1(1, 50).map((n) => a.store.append(message("h", n))));
    await a.close();
    expect((await b.store.append(message("h", 51))).message.seq).toBe(51);
    expect(b.store.stats().takeovers).toBe(1);
    expect((await b.store.range("h", 0, 100)).map((m) => m.seq)).toEqual(range1(1, 51));
  });

  test("two owners racing: an owner stalled past its lease wakes up after a takeover and is fenced; nothing lost, duplicated, reordered or gapped", async () => {
    const b = await open();
    // The stalled owner's clock never moves: it never renews its lease, so only the stream's fence can stop it.
    const child = await writerProcess(b.log.layout.base, "r", 3_000, 128, { MSGR_TEST_FROZEN_CLOCK: "1" });
    await child.when(() => child.acks.size >= 500);
    // Stalled (a long GC pause, a frozen VM): its publishes in flight still land, its lease is not renewed.
    child.proc.kill("SIGSTOP");
    const resentByB = new Set<string>();
    const sends = Array.from({ length: 200 }, (_, i) => appendUntilAcked(b.store, message("r", i + 1, { from: "bob", cid: `b${i}` }), resentByB));
    // b's first forward times out (the stalled owner does not answer); then its clock runs out the lease.
    await runOutLease(b);
    const results = await Promise.all(sends);
    expect(b.store.stats().takeovers).toBe(1);
    // The stalled owner wakes up believing it still owns the shard; the stream refuses it, it steps
    // down and forwards the rest of its appends to the new owner.
    child.proc.kill("SIGCONT");
    await child.when(() => child.isDone());
    expect(await child.proc.exited).toBe(0);
    expect(child.acks.size).toBe(3_000);
    // Its clock never moved, so only the stream could tell it: it found the new owner's marker
    // behind its own envelopes (after a refused publish, or one whose ack timed out while it was
    // stopped), stepped down, and forwarded what it had left.
    expect(child.stats()!.fenced).toBe(1);
    expect(child.stats()!.forwarded).toBeGreaterThan(0);

    const all = await logged(b.log, "r");
    expect(all).toHaveLength(3_200);
    expectOnceInOrder(all, new Map([...child.acks, ...results.map((r) => [r.message.cid, r.message.seq] as const)]));
    expectCallOrder(all, "w", child.resent);
    expectCallOrder(all, "b", resentByB);
  }, 120_000);
});

messageStoreContract(
  "log-backed store, nothing flushed, no recent messages in memory (reads come from the log)",
  async () => {
    const o = await openStore({ recentBytes: 0 });
    return {
      store: o.store,
      close: async () => {
        await o.close();
        await cleanUp();
      },
    };
  },
  { prunes: false },
);

messageStoreContract(
  "log-backed store with a worker flushing to Cassandra as it goes (reads of recent messages answered by the shard owner)",
  async () => {
    const o = await openStore();
    const worker = await startWorker(o);
    return {
      store: o.store,
      close: async () => {
        await worker.stop();
        await o.close();
        await cleanUp();
      },
    };
  },
  { prunes: false },
);

describe("log-backed store", () => {
  let opened: Opened[] = [];
  const open = async (opts?: OpenOptions) => {
    const o = await openStore(opts);
    opened.push(o);
    return o;
  };
  afterEach(async () => {
    for (const o of opened.reverse()) await o.close();
    opened = [];
    await cleanUp();
  }, CLEANUP_MS + 60_000);

  test("shard streams are file-backed, limits-retained by age, brought in line with the config on open; the shard count is fixed", async () => {
    const o = await open({ maxAgeSeconds: 3600 });
    const jsm = await admin.jetstreamManager();
    for (let shard = 0; shard < SHARDS; shard++) {
      const cfg = (await jsm.streams.info(`${o.log.layout.base}-${shard}`)).config;
      expect(cfg).toMatchObject({ storage: "file", retention: "limits", discard: "old", num_replicas: 1, allow_direct: true, subjects: [`msgr.log.${o.log.layout.base}.${shard}`] });
      expect(cfg.max_age).toBe(3600 * 1e9);
    }
    await o.store.append(message("c1", 1));
    // Another node opening it with a new max age updates the streams, keeping their messages.
    const again = await open({ stream: o.log.layout.base, maxAgeSeconds: 7200 });
    expect((await jsm.streams.info(`${o.log.layout.base}-0`)).config.max_age).toBe(7200 * 1e9);
    expect(await again.store.lastSeq("c1")).toBe(1);
    // A conversation's shard must never change: another shard count is refused.
    expect(openLog(o.log.layout.base, { shards: SHARDS + 1 })).rejects.toBeInstanceOf(LayoutMismatchError);
  });

  test("group commit: concurrent appends share envelopes, one JetStream message for many chat messages", async () => {
    const o = await open();
    const convs = Array.from({ length: 20 }, (_, i) => `g${i}`);
    const results = await Promise.all(Array.from({ length: 2000 }, (_, i) => o.store.append(message(convs[i % 20]!, Math.floor(i / 20) + 1))));
    expect(results.every((r) => !r.duplicate)).toBe(true);
    const { envelopes, messages } = o.store.stats();
    expect(messages).toBe(2000);
    // JetStream holds the envelopes plus one marker per shard the store took over.
    const jsm = await admin.jetstreamManager();
    let stored = 0;
    for (let shard = 0; shard < SHARDS; shard++) stored += (await jsm.streams.info(`${o.log.layout.base}-${shard}`)).state.messages;
    expect(stored).toBe(envelopes + o.store.stats().takeovers);
    expect(envelopes).toBeLessThan(2000 / 4);
    for (const c of convs) expect((await o.store.range(c, 0, 200)).map((m) => m.seq)).toEqual(range1(1, 100));
  });

  test("two edges on one conversation: one owns the shard, the other forwards; one contiguous order, each message once, each edge's call order kept", async () => {
    const a = await open();
    const b = await open({ stream: a.log.layout.base });
    const sends: Promise<AppendResult>[] = [];
    for (let n = 1; n <= 300; n++) {
      sends.push(a.store.append(message("race", n, { from: "alice", cid: `a${n}` })));
      sends.push(b.store.append(message("race", n, { from: "bob", cid: `b${n}` })));
    }
    const results = await Promise.all(sends);
    expect(results.every((r) => !r.duplicate)).toBe(true);
    expect(results.map((r) => r.message.seq).sort((x, y) => x - y)).toEqual(range1(1, 600));
    // Exactly one of them took the shard over; the other forwarded to it.
    expect(a.store.stats().takeovers + b.store.stats().takeovers).toBe(1);
    expect(a.store.stats().forwarded + b.store.stats().forwarded).toBeGreaterThan(0);
    // Both read the same order, and each edge's own messages keep their call order.
    const fromA = await a.store.range("race", 0, 1000);
    expect(await b.store.range("race", 0, 1000)).toEqual(fromA);
    const cids = (from: string) => fromA.filter((m) => m.from === from).map((m) => m.cid);
    expect(cids("alice")).toEqual(range1(1, 300).map((n) => `a${n}`));
    expect(cids("bob")).toEqual(range1(1, 300).map((n) => `b${n}`));
    // A duplicate sent to the non-owner is answered by the owner with the original.
    const again = await b.store.append(message("race", 1, { from: "alice", cid: "a1", body: new Uint8Array([1]) }));
    expect(again).toEqual({ message: fromA.find((m) => m.cid === "a1")!, duplicate: true });
    expect(await b.store.lastSeq("race")).toBe(600);
  });

  test("recent messages are read from the shard owner's memory, on any edge; with no owner left, from the history store and the log", async () => {
    const a = await openStore();
    const b = await openStore({ stream: a.log.layout.base });
    await Promise.all(range1(1, 100).map((n) => (n % 2 ? a : b).store.append(message("v", n, { from: n % 2 ? "alice" : "bob" }))));
    const owner = a.store.stats().takeovers ? a : b;
    const before = owner.store.stats().pagesFromMemory;
    const all = await a.store.range("v", 0, 200);
    expect(all.map((m) => m.seq)).toEqual(range1(1, 100));
    expect(await b.store.range("v", 0, 200)).toEqual(all);
    expect(await b.store.history("v", 101, 10)).toEqual(all.slice(90).reverse());
    expect(await a.store.range("v", 95, 200)).toEqual(all.slice(95));
    expect(owner.store.stats().pagesFromMemory - before).toBe(4);
    await a.close();
    await b.close();
    // Every writer gone: a reader finds no owner and reads the log (nothing is flushed).
    const reader = await open({ stream: a.log.layout.base });
    expect(await reader.store.lastSeq("v")).toBe(100);
    expect(await reader.store.range("v", 0, 200)).toEqual(all);
    expect(await reader.store.history("v", 51, 5)).toEqual(all.slice(45, 50).reverse());
    const bySender = new Map<string, number>();
    for (const m of all) bySender.set(m.from, m.seq);
    expect(await reader.store.lastSeqBySender("v")).toEqual(bySender);
    expect(reader.store.stats().takeovers).toBe(0);
  });

  test("a rewrite made on the edge that does not own the shard reaches the owner's memory: both edges read the rewritten message", async () => {
    const a = await open();
    const b = await open({ stream: a.log.layout.base });
    const first = await a.store.append(message("rw", 1, { from: "alice", cid: "x1" }));
    const owner = a.store.stats().takeovers ? a : b;
    const other = owner === a ? b : a;
    await other.store.append(message("rw", 2, { from: "bob", cid: "x2" }));
    const edited = { ...first.message, body: new TextEncoder().encode("edited"), edited: 5 };
    const before = owner.store.stats().pagesFromMemory;
    await other.store.rewrite(edited);
    for (const edge of [a, b]) expect((await edge.store.range("rw", 0, 10))[0]).toEqual(edited);
    expect((await other.store.history("rw", 3, 10)).at(-1)).toEqual(edited);
    // Answered from the owner's memory, not from the history store (nothing flushed: it would show the log's copy).
    expect(owner.store.stats().pagesFromMemory - before).toBe(3);
  });

  test("the worker writes every message once; replaying envelopes writes identical rows", async () => {
    const o = await open();
    for (let n = 1; n <= 20; n++) await o.store.append(message("c1", n));
    const worker = await startWorker(o);
    await until(async () => (await storedRows("c1")).length === 20, 20_000, "the worker to flush 20 messages");
    await worker.stop();
    // Replay everything, as a worker that crashed before acknowledging would.
    const entries: LogEntry[] = [];
    await o.log.walk(o.log.layout.shardOf("c1"), 1, (env, logSeq) => (entries.push(...env.messages.filter((m) => m.conv === "c1").map((message) => ({ message, logSeq }))), true));
    await o.history.write(entries, "batch");
    await o.history.write(entries, "concurrent");
    expect(await storedRows("c1")).toEqual(range1(1, 20));
    expect(await o.history.range("c1", 0, 20, 100)).toEqual(entries);
    expect(await o.history.tail("c1")).toBe(20);
  });

  test("a resend (marked so by the client) after the owner's duplicate window is answered from the store's client-id key", async () => {
    const o = await open({ duplicateWindowSeconds: 1 });
    const first = await o.store.append(message("c1", 1, { cid: "late" }));
    const worker = await startWorker(o);
    // The message's row and its client-id key are in different partitions, written concurrently:
    // the key is what the resend is looked up by.
    await until(async () => (await o.history.byClientId("c1", "alice", "late")) !== null, 20_000, "the worker to write the client-id key");
    o.clock.advance(1_500);
    expect(await o.store.append(message("c1", 2, { cid: "late", body: new Uint8Array([7]) }), { resend: true })).toEqual({ message: first.message, duplicate: true });
    expect(await o.store.lastSeq("c1")).toBe(1);
    await worker.stop();
  });

  test("rows carry the retention TTL and the store does not prune", async () => {
    const o = await open({ ttlSeconds: 3600 });
    await o.store.append(message("c1", 1));
    const worker = await startWorker(o);
    await until(async () => (await storedRows("c1")).length === 1, 20_000, "the worker to flush");
    const [row] = (await cql.execute(`SELECT TTL(body) AS ttl FROM ${KEYSPACE}.messages WHERE conv = 'c1' AND bucket = 0`)).rows;
    expect(Number(row?.ttl)).toBeGreaterThan(3500);
    expect(Number(row?.ttl)).toBeLessThanOrEqual(3600);
    expect(await o.store.pruneBefore()).toBe(0);
    await worker.stop();
  });

  test("ranges and history cross partition buckets; a new owner continues a conversation from the store's last seq", async () => {
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
    expect((await o.store.append(message("edge", 11))).message.seq).toBe(BUCKET_SEQS + 5);
  });

  test("a read through the log spans several batched gets, in order, with other conversations interleaved", async () => {
    const o = await open({ shards: 1, recentBytes: 0 });
    // One at a time: 600 envelopes, so a walk needs several round trips.
    for (let i = 0; i < 600; i++) await o.store.append(message(i % 2 ? "odd" : "even", i + 1, { from: i % 3 ? "alice" : "bob" }));
    const even = await o.store.range("even", 0, 1000);
    expect(even.map((m) => m.seq)).toEqual(range1(1, 300));
    expect(even.map((m) => m.cid)).toEqual(Array.from({ length: 300 }, (_, i) => `even-${2 * i + 1}`));
    expect((await o.store.history("odd", 301, 300)).map((m) => m.seq)).toEqual(range1(1, 300).reverse());
    const last = new Map<string, number>();
    for (const m of even) last.set(m.from, m.seq);
    expect(await o.store.lastSeqBySender("even")).toEqual(last);
  });

  test("messages acked while the worker is behind are read through from the log", async () => {
    const o = await open({ recentBytes: 0 });
    for (let n = 1; n <= 10; n++) await o.store.append(message("c1", n));
    const worker = await startWorker(o);
    await until(async () => (await storedRows("c1")).length === 10, 20_000, "the worker to flush");
    await worker.stop();
    for (let n = 11; n <= 15; n++) await o.store.append(message("c1", n));
    expect(await storedRows("c1")).toHaveLength(10);
    expect((await o.store.range("c1", 8, 100)).map((m) => m.seq)).toEqual([9, 10, 11, 12, 13, 14, 15]);
    expect((await o.store.history("c1", 100, 4)).map((m) => m.seq)).toEqual([15, 14, 13, 12]);
    expect(await o.store.lastSeqBySender("c1")).toEqual(new Map([["alice", 15]]));
  });
});
