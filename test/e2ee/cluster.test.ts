// End-to-end encryption in cluster mode, on real engines: edges on NATS, Redis and PostgreSQL,
// with messages in the JetStream log moved into Cassandra by a write-behind worker, and again
// with messages in PostgreSQL. Three users with two devices each, spread over two edges, chat in
// an encrypted group; then every store is searched for the plaintexts: the JetStream log,
// Cassandra's rows, and every table of PostgreSQL (KeyPackages, groups, messages). Two members
// on different edges commit at once: one commit per epoch holds across processes.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import cassandra from "cassandra-driver";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as natsConnect } from "nats";
import postgres from "postgres";
import { loadSigningKey } from "../../src/auth/keyring.ts";
import { mintAccessToken } from "../../src/auth/tokens.ts";
import { DEFAULTS } from "../../src/config/config.ts";
import { LogLayout } from "../../src/storage/jetstream/layout.ts";
import { startChild, startWorkerChild, type ChildServer, type ChildWorker } from "../helpers/child-server.ts";
import { until } from "../helpers/harness.ts";
import { sharedSecrets } from "../helpers/cluster-secrets.ts";
import { unlimitedEnv } from "../helpers/limits.ts";
import { startCassandra, type CassandraServer } from "../helpers/services/cassandra.ts";
import { startNats, type NatsServer } from "../helpers/services/nats.ts";
import { startPostgres, type PostgresServer } from "../helpers/services/postgres.ts";
import { startRedis } from "../helpers/services/redis.ts";
import { sameEpoch, secureAt, texts, type Secure } from "./helpers.ts";

const KEYSPACE = "msgr_e2ee";

let nats: NatsServer;
let cass: CassandraServer;
let redis: Awaited<ReturnType<typeof startRedis>>;
let pg: PostgresServer;
let root: string;
let keysFile: string;
/** What every edge shares (token keys, media signing key and directory, VAPID keys). */
let shared: Record<string, string>;
const procs: (ChildServer | ChildWorker)[] = [];
const clients: Secure[] = [];

function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

function env(messages: "jetstream" | "postgres", database: string): Record<string, string> {
  return {
    ...shared,
    MSGR_BACKENDS_BUS: "nats",
    MSGR_BACKENDS_PRESENCE: "redis",
    MSGR_BACKENDS_METADATA: "postgres",
    MSGR_BACKENDS_MESSAGES: messages,
    MSGR_NATS_SERVERS: nats.url,
    MSGR_REDIS_URL: redis.url,
    MSGR_POSTGRES_URL: withDatabase(pg.url, database),
    MSGR_CASSANDRA_CONTACT_POINTS: cass.contactPoint,
    MSGR_CASSANDRA_LOCAL_DATA_CENTER: cass.localDataCenter,
    MSGR_CASSANDRA_KEYSPACE: KEYSPACE,
    MSGR_HEARTBEAT_INTERVAL_MS: "1000",
    MSGR_HEARTBEAT_TIMEOUT_MS: "10000",
    ...unlimitedEnv(),
    MSGR_LOG_LEVEL: "info",
  };
}

async function edges(messages: "jetstream" | "postgres", database: string, firstNode: number): Promise<[ChildServer, ChildServer]> {
  const dir = (n: number) => ({ MSGR_SERVER_NODE_ID: String(n), MSGR_SERVER_DATA_DIR: join(root, `edge-${n}`) });
  // The first edge applies the migrations.
  const a = await startChild({ ...env(messages, database), ...dir(firstNode) });
  const b = await startChild({ ...env(messages, database), ...dir(firstNode + 1) });
  procs.push(a, b);
  return [a, b];
}

async function device(user: string, dev: string, url: string): Promise<Secure> {
  const key = await loadSigningKey(keysFile);
  const s = await secureAt(url, () => mintAccessToken(key, { user, device: dev, ttlSec: 3600, audience: "msgr" }), user, dev);
  clients.push(s);
  return s;
}

/** Three users, two devices each, alternating between the two edges, in an encrypted group. */
async function encryptedGroup(prefix: string, a: ChildServer, b: ChildServer): Promise<{ conv: string; all: Secure[] }> {
  const all: Secure[] = [];
  for (const [i, u] of ["alice", "bob", "carol"].entries()) {
    for (const d of [1, 2]) all.push(await device(`${prefix}-${u}`, `${prefix}-${u}-${d}`, (i + d) % 2 ? a.wsUrl : b.wsUrl));
  }
  const conv = (await all[0]!.e.client.createGroup(prefix, [`${prefix}-bob`, `${prefix}-carol`])).id;
  expect(await all[0]!.e.encrypt(conv)).toBe(true);
  await sameEpoch(all, conv, 1, 60_000);
  return { conv, all };
}

/**
 * Each device sends one message with a unique text; waits until every device decrypted all. Also
 * returns one text sent in the clear in a plain conversation: the searches must find that one.
 */
async function chat(conv: string, all: Secure[]): Promise<{ sent: string[]; control: string; controlConv: string }> {
  const sent: string[] = [];
  for (const s of all) {
    const t = `plaintext of ${s.device} ${crypto.randomUUID()}`;
    sent.push(t);
    await s.e.send(conv, t);
  }
  await until(() => all.every((s) => texts(s, conv).length === sent.length), 60_000, "every device to decrypt every message");
  for (const s of all) expect(texts(s, conv)).toEqual(sent);
  const control = `in the clear ${crypto.randomUUID()}`;
  const controlConv = (await all[0]!.e.client.openDirect(all.at(-1)!.user)).id;
  await all[0]!.e.send(controlConv, control);
  return { sent, control, controlConv };
}

const hex = (s: string) => Buffer.from(s).toString("hex");

/** Every row of every table of a PostgreSQL database, as text (bytea as hex). */
async function everyRow(url: string): Promise<string> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const tables = await sql<{ name: string }[]>`SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public'`;
    let out = "";
    for (const { name } of tables) for (const r of await sql.unsafe(`SELECT t::text AS row FROM "${name}" t`)) out += `${r.row}\n`;
    return out;
  } finally {
    await sql.end();
  }
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "msgr-e2ee-cluster-"));
  ({ keysFile, env: shared } = await sharedSecrets(root));
  [nats, redis, pg, cass] = await Promise.all([startNats({ jetstream: true }), startRedis(), startPostgres(), startCassandra()]);
  const admin = postgres(withDatabase(pg.url, "postgres"), { max: 1, onnotice: () => {} });
  await admin.unsafe("CREATE DATABASE e2ee_log");
  await admin.unsafe("CREATE DATABASE e2ee_pg");
  await admin.end();
}, 240_000);

afterAll(async () => {
  for (const c of clients) c.e.close();
  for (const p of procs) p.proc.kill(9);
  await Promise.allSettled([nats?.stop(), redis?.stop(), pg?.stop(), cass?.stop()]);
  rmSync(root, { recursive: true, force: true });
});

describe("messages in the JetStream log and Cassandra, metadata in PostgreSQL", () => {
  let a: ChildServer;
  let b: ChildServer;
  beforeAll(async () => {
    [a, b] = await edges("jetstream", "e2ee_log", 1);
    procs.push(await startWorkerChild({ ...env("jetstream", "e2ee_log"), MSGR_SERVER_NODE_ID: "90" }));
  }, 60_000);

  test("three users with two devices each on two edges: everyone decrypts everything; the log, Cassandra and PostgreSQL hold no plaintext", async () => {
    const { conv, all } = await encryptedGroup("cl", a, b);
    const { sent, control, controlConv } = await chat(conv, all);
    // The worker moves every message (the commit and the six) into Cassandra.
    const cql = new cassandra.Client({ contactPoints: [cass.contactPoint], localDataCenter: cass.localDataCenter, keyspace: KEYSPACE });
    try {
      const bodiesOf = async (c: string) => {
        const out: Buffer[] = [];
        for (const { bucket } of (await cql.execute("SELECT bucket FROM conv_buckets WHERE conv = ?", [c], { prepare: true })).rows) {
          const rows = await cql.execute("SELECT body FROM messages WHERE conv = ? AND bucket = ?", [c, bucket], { prepare: true, fetchSize: 10_000 });
          out.push(...rows.rows.map((r) => r.body as Buffer));
        }
        return out;
      };
      let bodies: Buffer[] = [];
      await until(
        async () => (bodies = [...(await bodiesOf(conv)), ...(await bodiesOf(controlConv))]).length >= sent.length + 2,
        60_000,
        "the worker to store both conversations in Cassandra",
      );
      expect(bodies.some((x) => x.includes(control))).toBe(true);
      for (const t of sent) expect(bodies.some((x) => x.includes(t))).toBe(false);
    } finally {
      await cql.shutdown();
    }
    // The JetStream log, every shard's stream entry by entry.
    const nc = await natsConnect({ servers: nats.url });
    try {
      const jsm = await nc.jetstreamManager();
      const layout = new LogLayout(DEFAULTS.jetstream.stream, DEFAULTS.jetstream.shards);
      const log: Buffer[] = [];
      for (const shard of layout.all) {
        const info = await jsm.streams.info(layout.stream(shard)).catch(() => null);
        if (!info) continue;
        for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
          const m = await jsm.streams.getMessage(layout.stream(shard), { seq }).catch(() => null);
          if (m) log.push(Buffer.from(m.data));
        }
      }
      expect(log.length).toBeGreaterThan(sent.length);
      expect(log.some((x) => x.includes(control))).toBe(true);
      for (const t of sent) expect(log.some((x) => x.includes(t))).toBe(false);
    } finally {
      await nc.close();
    }
    const rows = await everyRow(withDatabase(pg.url, "e2ee_log"));
    expect(rows).toContain(conv);
    expect(rows.includes(control)).toBe(false); // messages are not in PostgreSQL here
    for (const t of sent) {
      expect(rows.includes(t)).toBe(false);
      expect(rows.includes(hex(t))).toBe(false);
    }
  }, 180_000);

  test("two members on different edges commit at once: one commit per epoch, everyone ends in the same epoch and reads everyone", async () => {
    const alice = await device("race-alice", "race-alice-1", a.wsUrl);
    const bob = await device("race-bob", "race-bob-1", b.wsUrl);
    const conv = (await alice.e.client.createGroup("race", ["race-bob"])).id;
    await alice.e.encrypt(conv);
    const start = await sameEpoch([alice, bob], conv, 1, 60_000);
    for (let round = 0; round < 3; round++) await Promise.all([alice.e.update(conv), bob.e.update(conv)]);
    await sameEpoch([alice, bob], conv, start + 6, 60_000);
    await alice.e.send(conv, "after the races (alice)");
    await bob.e.send(conv, "after the races (bob)");
    await until(() => texts(alice, conv).length === 2 && texts(bob, conv).length === 2, 30_000);
    expect(texts(alice, conv)).toEqual(texts(bob, conv));
    expect(alice.alerts.concat(bob.alerts)).toEqual([]);
  }, 120_000);
});

describe("messages and metadata in PostgreSQL", () => {
  test("three users with two devices each on two edges: everyone decrypts everything; PostgreSQL holds no plaintext", async () => {
    const [a, b] = await edges("postgres", "e2ee_pg", 11);
    const { conv, all } = await encryptedGroup("pg", a, b);
    const { sent, control } = await chat(conv, all);
    const rows = await everyRow(withDatabase(pg.url, "e2ee_pg"));
    // The messages are there: the plain one readable, the encrypted ones as MLS.
    expect(rows.includes(hex(control))).toBe(true);
    for (const t of sent) {
      expect(rows.includes(t)).toBe(false);
      expect(rows.includes(hex(t))).toBe(false);
    }
  }, 180_000);
});
