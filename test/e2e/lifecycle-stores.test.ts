// Deletion for everyone and disappearing messages through the protocol on the cluster's message
// stores: PostgreSQL, and the JetStream log with the Cassandra history store (a write-behind
// worker copying one into the other). Each store is read directly: the content of a deleted
// message is gone from it, and a disappearing message is deleted (PostgreSQL) or set to expire
// (Cassandra rows) when its timer runs out. The SQLite store's share of this is in
// lifecycle.test.ts. Time is the server's injected clock.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import cassandra from "cassandra-driver";
import { connect, type NatsConnection } from "nats";
import pino from "pino";
import postgres from "postgres";
import { subjects } from "../../src/bus/subjects.ts";
import { ManualClock } from "../../src/clock.ts";
import type { Config, DeepPartial } from "../../src/config/config.ts";
import { decodeSystemEvent, MessageKind, SystemOp, type Client, type SystemEvent } from "../../src/sdk/index.ts";
import { openLogAndHistory } from "../../src/storage/jetstream/open.ts";
import { WorkerMetrics } from "../../src/worker/metrics.ts";
import { WriteBehindWorker } from "../../src/worker/write-behind.ts";
import { nextEvent, startHarness, text, until, type Harness } from "../helpers/harness.ts";
import { startCassandra, type CassandraServer } from "../helpers/services/cassandra.ts";
import { startNats, type NatsServer } from "../helpers/services/nats.ts";
import { startPostgres, type PostgresServer } from "../helpers/services/postgres.ts";

const silent = pino({ level: "silent" });
const TIMER_SEC = 60;

/** What every store's server gets: an injected clock, and connections that outlive its jumps. */
async function harness(clock: ManualClock, overrides: DeepPartial<Config>): Promise<Harness> {
  return startHarness({ ...overrides, storage: { expirySweepMs: 20 }, heartbeat: { timeoutMs: 86_400_000 } }, { clock, tokenTtlSec: 86_400 });
}

const isRemoval = (m: { kind: number; body: Uint8Array }) => m.kind === MessageKind.System && (decodeSystemEvent(m.body) as SystemEvent).op === SystemOp.MessageRemoved;

/** alice sends, edits, and deletes for everyone; bob is told. Returns the seqs of the message and its edit. */
async function sendEditDelete(alice: Client, bob: Client, conv: string, secret: string): Promise<{ seq: number; edit: number }> {
  const m = await alice.send(conv, `${secret} first`);
  const e = await alice.edit(conv, m.seq, `${secret} second`);
  const told = nextEvent(bob, "message", isRemoval);
  await alice.deleteForEveryone(conv, m.seq);
  await told;
  return { seq: m.seq, edit: e.seq };
}

describe("postgresql", () => {
  const clock = new ManualClock();
  let pg: PostgresServer;
  let h: Harness;
  let sql: postgres.Sql;
  beforeAll(async () => {
    pg = await startPostgres();
    h = await harness(clock, { backends: { messages: "postgres", metadata: "postgres" }, postgres: { url: pg.url } });
    sql = postgres(pg.url, { max: 1, onnotice: () => {} });
  }, 120_000);
  afterAll(async () => {
    await sql?.end();
    await h?.stop();
    await pg?.stop();
  });

  const rows = (conv: string) => sql<{ seq: string; kind: number; body: Uint8Array; edited: string | null }[]>`
    SELECT seq, kind, body, edited FROM messages WHERE conv_id = ${conv} ORDER BY seq`;

  test("a deletion for everyone overwrites the message and its edit in the table", async () => {
    const alice = await h.client("pg-alice");
    const bob = await h.client("pg-bob");
    const conv = (await alice.openDirect("pg-bob")).id;
    const { seq, edit } = await sendEditDelete(alice, bob, conv, "pg-secret");
    for (const r of (await rows(conv)).filter((x) => [seq, edit].includes(Number(x.seq)))) {
      expect(r.kind).toBe(MessageKind.Removed);
      expect(r.body.length).toBe(0);
      expect(r.edited).toBeNull();
    }
    expect((await bob.history(conv)).messages.find((m) => m.seq === seq)!.kind).toBe(MessageKind.Removed);
  });

  test("a disappearing message is deleted from the table when its timer runs out", async () => {
    const alice = await h.client("pgd-alice");
    const conv = (await alice.openDirect("pgd-bob")).id;
    await alice.setTimer(conv, TIMER_SEC);
    const m = await alice.send(conv, "pg-ephemeral");
    expect((await rows(conv)).some((r) => Number(r.seq) === m.seq)).toBe(true);
    clock.advance(TIMER_SEC * 1000);
    await until(async () => !(await rows(conv)).some((r) => Number(r.seq) === m.seq), 10_000, "the row deleted");
    expect((await alice.history(conv)).messages.filter((x) => x.kind !== MessageKind.System)).toEqual([]);
  });
});

describe("jetstream log and cassandra", () => {
  const clock = new ManualClock();
  const KEYSPACE = "msgr_lifecycle";
  let nats: NatsServer;
  let cass: CassandraServer;
  let h: Harness;
  let cql: cassandra.Client;
  let nc: NatsConnection;
  let worker: WriteBehindWorker;
  let closeWorkerStores: () => Promise<void>;

  beforeAll(async () => {
    [nats, cass] = await Promise.all([startNats({ jetstream: true }), startCassandra()]);
    const overrides: DeepPartial<Config> = {
      backends: { messages: "jetstream" },
      nats: { servers: [nats.url] },
      jetstream: { stream: "LIFECYCLE" },
      cassandra: { contactPoints: [cass.contactPoint], localDataCenter: cass.localDataCenter, keyspace: KEYSPACE, consistency: "localOne" },
    };
    h = await harness(clock, overrides);
    // A write-behind worker in this process, on stores of its own.
    const { messageLog, history } = await openLogAndHistory(h.config, silent, "test-worker");
    let w: WriteBehindWorker | undefined;
    w = new WriteBehindWorker(messageLog, history, { consumer: "writer", batchSize: 64, batchWaitMs: 5, writesInFlight: 2, writeMode: "batch", maxRetryDelayMs: 500, ackWaitMs: 30_000 }, new WorkerMetrics(() => w!.backlog()), silent);
    worker = w;
    await worker.start();
    closeWorkerStores = async () => {
      await messageLog.close();
      await history.close();
    };
    cql = new cassandra.Client({ contactPoints: [cass.contactPoint], localDataCenter: cass.localDataCenter, encoding: { useBigIntAsLong: true } });
    await cql.connect();
    nc = await connect({ servers: nats.url });
  }, 240_000);
  afterAll(async () => {
    await worker?.stop();
    await closeWorkerStores?.();
    await nc?.close();
    await cql?.shutdown();
    await h?.stop();
    await Promise.all([nats?.stop(), cass?.stop()]);
  });

  const row = async (conv: string, seq: number) =>
    (await cql.execute(`SELECT id, kind, body, edited, TTL(body) AS ttl FROM ${KEYSPACE}.messages WHERE conv = ? AND bucket = 0 AND seq = ?`, [conv, BigInt(seq)], { prepare: true })).rows[0];

  test("a deletion for everyone overwrites the message and its edit in Cassandra; reads never show the log's copy", async () => {
    const alice = await h.client("js-alice");
    const bob = await h.client("js-bob");
    const conv = (await alice.openDirect("js-bob")).id;
    const { seq, edit } = await sendEditDelete(alice, bob, conv, "js-secret");
    // Written by the worker (whether before or after the deletion), the rows hold the tombstone.
    for (const s of [seq, edit]) {
      await until(async () => (await row(conv, s))?.id != null, 20_000, `row ${s} written by the worker`);
      const r = (await row(conv, s))!;
      expect(r.kind).toBe(MessageKind.Removed);
      expect((r.body as Buffer).length).toBe(0);
      expect(r.edited).toBeNull();
    }
    // The log still holds what was sent (until jetstream.maxAgeSeconds, docs/durability.md); no read serves it.
    const { c } = { c: await h.client("js-bob", "tablet") };
    const hist = (await c.history(conv)).messages;
    expect(hist.find((m) => m.seq === seq)!.kind).toBe(MessageKind.Removed);
    expect(hist.some((m) => m.kind !== MessageKind.System && text(m).includes("js-secret"))).toBe(false);
  });

  test("a disappearing message gets a TTL in Cassandra, and is gone from history when its timer runs out", async () => {
    const alice = await h.client("jsd-alice");
    const conv = (await alice.openDirect("jsd-bob")).id;
    await alice.setTimer(conv, TIMER_SEC);
    const m = await alice.send(conv, "js-ephemeral");
    await until(async () => (await row(conv, m.seq))?.id != null, 20_000, "the row written by the worker");
    const ttl = Number((await row(conv, m.seq))!.ttl);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(TIMER_SEC);
    // The log keeps the envelope until its max age (it holds other messages too: durability.md §11); reads hide it from exp on.

    clock.advance(TIMER_SEC * 1000);
    expect((await alice.history(conv)).messages.filter((x) => x.kind !== MessageKind.System)).toEqual([]);
  });
});
