// A cluster where every link is authenticated and encrypted, as infra/production and the local
// cluster run it: NATS with TLS and one nkey per role (permissions from
// src/connect/nats-permissions.ts), Redis TLS-only with an ACL user, PostgreSQL with TLS and
// scram-sha-256, Cassandra with PasswordAuthenticator and required client encryption, MinIO on
// HTTPS, and edges serving wss://. The processes read every secret from a file, the NATS seed
// as a systemd credential (credential:NAME in $CREDENTIALS_DIRECTORY). Each engine starts once
// for the whole file.
//
// What must hold: msgr works end to end; clients without credentials, or with another role's,
// are refused by NATS; a forged bus event from a process that is not an edge reaches no device;
// every engine refuses a connection without its password, or without TLS.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import cassandra from "cassandra-driver";
import Redis, { type RedisOptions } from "ioredis";
import { Client as MinioClient } from "minio";
import { connect as natsConnect, Events, nkeyAuthenticator, nkeys, type NatsConnection } from "nats";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createConnection } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { subjects } from "../../src/bus/subjects.ts";
import { loadSigningKey } from "../../src/auth/keyring.ts";
import { mintAccessToken } from "../../src/auth/tokens.ts";
import { ensureNatsIdentities, type NatsIdentity } from "../../src/cli/nats-auth.ts";
import { natsAccountsConf } from "../../src/connect/nats-permissions.ts";
import { LogLayout } from "../../src/storage/jetstream/layout.ts";
import { DEFAULTS } from "../../src/config/config.ts";
import { pack } from "../../src/proto/codec.ts";
import { Client } from "../../src/sdk/index.ts";
import { startChild, startWorkerChild, type ChildServer, type ChildWorker } from "../helpers/child-server.ts";
import { collect, nextEvent, text, until } from "../helpers/harness.ts";
import { makeCert, trustCaForWebSockets, type TestCert } from "../helpers/services/certs.ts";
import { startCassandra, type CassandraServer } from "../helpers/services/cassandra.ts";
import { startMinio, type MinioServer } from "../helpers/services/minio.ts";
import { startNats, type NatsServer } from "../helpers/services/nats.ts";
import { startPostgres, type PostgresServer } from "../helpers/services/postgres.ts";
import { startRedis, type RedisServer } from "../helpers/services/redis.ts";
import { sharedSecrets } from "../helpers/cluster-secrets.ts";
import { ClusterDiagnostics } from "../helpers/cluster-diagnostics.ts";
import { expectOwnerAnswersOnlyWhenAsked } from "../helpers/nats-replies.ts";

const HOST = "127.0.0.1";
const NAMES = { stream: DEFAULTS.jetstream.stream, shards: DEFAULTS.jetstream.shards, consumer: DEFAULTS.worker.consumer };
const LAYOUT = new LogLayout(NAMES.stream, NAMES.shards);
const SHARD0 = LAYOUT.stream(0);

let root: string;
let cert: TestCert;
let ca: string;
let ids: Record<"edge" | "worker", NatsIdentity>;
const secrets: Record<"redis" | "postgres" | "cassandra" | "cassandraAdmin" | "minio", string> = { redis: "", postgres: "", cassandra: "", cassandraAdmin: "", minio: "" };
let nats: NatsServer;
let redis: RedisServer;
let pg: PostgresServer;
let cass: CassandraServer;
let minio: MinioServer;
let keysFile: string;
/** The key files and media directory every edge shares (cluster mode refuses per-edge ones). */
let shared: Record<string, string>;
let e1: ChildServer;
let e2: ChildServer;
let worker: ChildWorker;
let restoreWebSocket: () => void;
/** Failures of the tests with clients name their connection losses and end with every process's log. */
const diagnostics = new ClusterDiagnostics(() => ({ "edge 1": e1, "edge 2": e2, worker }));
const closers: (() => unknown)[] = [];

/** A secret file as an operator makes one: random, owner-only. */
function secretFile(name: string): string {
  const file = join(root, "secrets", name);
  writeFileSync(file, `${crypto.randomUUID()}\n`, { mode: 0o600 });
  return file;
}

const password = (file: string) => readFileSync(file, "utf8").trim();

/** A systemd-style credentials directory holding one role's NATS seed as "nats.nk". */
function credentials(role: "edge" | "worker"): string {
  const dir = join(root, `credentials-${role}`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  copyFileSync(ids[role].seedFile, join(dir, "nats.nk"));
  return dir;
}

/** The configuration every msgr process of the cluster gets: all of it from the environment and files. */
function clusterEnv(role: "edge" | "worker"): Record<string, string> {
  return {
    CREDENTIALS_DIRECTORY: credentials(role),
    ...shared,
    MSGR_BACKENDS_BUS: "nats",
    MSGR_BACKENDS_PRESENCE: "redis",
    MSGR_BACKENDS_METADATA: "postgres",
    MSGR_BACKENDS_MESSAGES: "jetstream",
    MSGR_NATS_SERVERS: nats.url,
    MSGR_NATS_NKEY_FILE: "credential:nats.nk",
    MSGR_NATS_TLS: "true",
    MSGR_NATS_TLS_CA_FILE: cert.caFile,
    MSGR_REDIS_URL: redis.url,
    MSGR_REDIS_USERNAME: "msgr",
    MSGR_REDIS_PASSWORD_FILE: secrets.redis,
    MSGR_REDIS_TLS: "true",
    MSGR_REDIS_TLS_CA_FILE: cert.caFile,
    MSGR_POSTGRES_URL: pg.url,
    MSGR_POSTGRES_PASSWORD_FILE: secrets.postgres,
    MSGR_POSTGRES_TLS: "true",
    MSGR_POSTGRES_TLS_CA_FILE: cert.caFile,
    MSGR_CASSANDRA_CONTACT_POINTS: cass.contactPoint,
    MSGR_CASSANDRA_LOCAL_DATA_CENTER: cass.localDataCenter,
    MSGR_CASSANDRA_USERNAME: "msgr",
    MSGR_CASSANDRA_PASSWORD_FILE: secrets.cassandra,
    MSGR_CASSANDRA_TLS: "true",
    MSGR_CASSANDRA_TLS_CA_FILE: cert.caFile,
    MSGR_MEDIA_STORE: "minio",
    MSGR_MINIO_END_POINT: minio.endPoint,
    MSGR_MINIO_PORT: String(minio.port),
    MSGR_MINIO_USE_SSL: "true",
    MSGR_MINIO_ACCESS_KEY: minio.accessKey,
    MSGR_MINIO_SECRET_KEY_FILE: secrets.minio,
    MSGR_MINIO_TLS_CA_FILE: cert.caFile,
    MSGR_SERVER_TLS_CERT_FILE: cert.certFile,
    MSGR_SERVER_TLS_KEY_FILE: cert.keyFile,
    MSGR_HEARTBEAT_INTERVAL_MS: "1000",
    MSGR_HEARTBEAT_TIMEOUT_MS: "5000",
    MSGR_WORKER_ACK_WAIT_MS: "5000",
  };
}

async function client(user: string, edge: ChildServer, device = `${user}-dev`): Promise<Client> {
  const key = await loadSigningKey(keysFile);
  const c = new Client({ url: edge.wsUrl, token: () => mintAccessToken(key, { user, device, ttlSec: 3600, audience: "msgr" }), minBackoffMs: 50, maxBackoffMs: 500 });
  diagnostics.track(c, device);
  const synced = nextEvent(c, "synced", undefined, 20_000);
  await c.connect();
  await synced;
  return c;
}

/** A NATS connection over TLS with `seed`'s identity (or none); closed after the file. */
async function natsAs(seed: Uint8Array | undefined, name: string): Promise<NatsConnection> {
  const nc = await natsConnect({ servers: nats.url, name, tls: { ca }, maxReconnectAttempts: 0, ...(seed ? { authenticator: nkeyAuthenticator(seed) } : {}) });
  closers.push(() => nc.close());
  return nc;
}

const seedOf = (role: "edge" | "worker") => new TextEncoder().encode(readFileSync(ids[role].seedFile, "utf8").trim());

/** Counts the permissions violations the server reports to `nc` from now on. */
function countViolations(nc: NatsConnection): { count: number } {
  const counter = { count: 0 };
  void (async () => {
    for await (const s of nc.status()) if (s.type === Events.Error && /PERMISSIONS_VIOLATION/i.test(String(s.data))) counter.count++;
  })();
  return counter;
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "msgr-secure-cluster-"));
  mkdirSync(join(root, "secrets"), { mode: 0o700 });
  cert = await makeCert(join(root, "certs"));
  ca = readFileSync(cert.caFile, "utf8");
  ids = await ensureNatsIdentities(join(root, "nats"));
  for (const name of Object.keys(secrets) as (keyof typeof secrets)[]) secrets[name] = secretFile(`${name}.password`);
  ({ keysFile, env: shared } = await sharedSecrets(root));
  const accounts = natsAccountsConf(NAMES, [
    { role: "edge", nkey: ids.edge.publicKey },
    { role: "worker", nkey: ids.worker.publicKey },
  ]);
  [nats, redis, pg, cass, minio] = await Promise.all([
    startNats({ jetstream: true, secure: { cert, accounts } }),
    startRedis({ secure: { cert, user: "msgr", passwordFile: secrets.redis } }),
    startPostgres({ secure: { cert, passwordFile: secrets.postgres } }),
    startCassandra({ secure: { cert, adminPasswordFile: secrets.cassandraAdmin, msgrPasswordFile: secrets.cassandra } }),
    startMinio({ secure: { cert } }),
  ]);
  // MinIO's root secret is the one it generated; msgr reads it from a file like every other.
  writeFileSync(secrets.minio, minio.secretKey, { mode: 0o600 });
  e1 = await startChild({ ...clusterEnv("edge"), MSGR_SERVER_NODE_ID: "1", MSGR_SERVER_DATA_DIR: join(root, "edge-1") });
  e2 = await startChild({ ...clusterEnv("edge"), MSGR_SERVER_NODE_ID: "2", MSGR_SERVER_DATA_DIR: join(root, "edge-2") });
  worker = await startWorkerChild({ ...clusterEnv("worker"), MSGR_SERVER_NODE_ID: "91" });
  // The SDK clients below trust the test CA, as a device trusts the operator's.
  restoreWebSocket = trustCaForWebSockets(ca);
}, 240_000);

afterAll(async () => {
  restoreWebSocket?.();
  for (const c of diagnostics.clients) c.close();
  for (const close of closers) await Promise.resolve(close()).catch(() => {});
  for (const p of [e1, e2, worker]) p?.proc.kill(9);
  await Promise.allSettled([nats?.stop(), redis?.stop(), pg?.stop(), cass?.stop(), minio?.stop()]);
  if (root) rmSync(root, { recursive: true, force: true });
});

describe("a cluster with credentials and TLS on every link", () => {
  diagnostics.test("end to end: a message crosses edges over wss://, NATS and the log, and the worker stores it in Cassandra", async () => {
    expect(e1.wsUrl).toStartWith("wss://");
    // Every link of this configuration is covered: nothing to warn about.
    for (const p of [e1, e2, worker]) expect(p.output()).not.toContain("unprotected link");
    const alice = await client("alice", e1);
    const bob = await client("bob", e2);
    const conv = await alice.openDirect("bob");
    const got = nextEvent(bob, "message", (m) => m.conv === conv.id);
    const ack = await alice.send(conv.id, "sealed");
    expect(text(await got)).toBe("sealed");
    const read = nextEvent(alice, "receipt", (r) => r.user === "bob" && r.read >= ack.seq);
    await bob.markRead(conv.id, ack.seq);
    await read;

    // The worker (its own nkey) moved it into Cassandra; read it back as msgr's role, over TLS.
    const cql = new cassandra.Client({
      contactPoints: [cass.contactPoint],
      localDataCenter: cass.localDataCenter,
      authProvider: new cassandra.auth.PlainTextAuthProvider("msgr", password(secrets.cassandra)),
      sslOptions: { ca: [ca], rejectUnauthorized: true },
      socketOptions: { coalescingThreshold: 16 * 1024 },
    });
    closers.push(() => cql.shutdown());
    const stored = async () => (await cql.execute("SELECT body FROM msgr.messages WHERE conv = ? AND bucket = 0 AND seq = ?", [conv.id, ack.seq], { prepare: true })).rows;
    await until(async () => (await stored()).length > 0, 20_000, "the worker to store the message");
    expect(new TextDecoder().decode((await stored())[0]!.body as Uint8Array)).toBe("sealed");
    // Nothing any process did was refused by NATS on the way (a shard owner's reply to the other
    // edge, which loads the conversation for Bob's receipt, was once).
    for (const p of [e1, e2, worker]) expect(p.output()).not.toContain("NATS async error");
  }, 30_000);

  test("NATS: a client without credentials, or with an unknown nkey, cannot connect; nor can one without TLS", async () => {
    await expect(natsAs(undefined, "anonymous")).rejects.toThrow(/Authorization Violation/);
    await expect(natsAs(nkeys.createUser().getSeed(), "stranger")).rejects.toThrow(/Authorization Violation/);
    // Plain TCP: the server announces that TLS is required, takes the plain CONNECT for a broken
    // handshake and hangs up; no PONG, no +OK.
    const reply = await new Promise<string>((resolve) => {
      const sock = createConnection({ host: HOST, port: nats.port });
      let got = "";
      let sent = false;
      sock.on("data", (chunk: Buffer) => {
        got += chunk.toString();
        if (!sent && got.includes("\r\n")) {
          sent = true;
          sock.write('CONNECT {"verbose":true}\r\nPING\r\n');
        }
      });
      sock.once("error", () => {});
      sock.once("close", () => resolve(got));
    });
    expect(reply).toStartWith("INFO ");
    expect(reply).toContain('"tls_required":true');
    expect(reply).not.toContain("PONG");
    expect(reply).not.toContain("+OK");
  });

  test("NATS: an edge answers another edge's request to its owner subject (shard RPC), and may publish on no other inbox", async () => {
    const [owner, asker] = await Promise.all([natsAs(seedOf("edge"), "owner"), natsAs(seedOf("edge"), "asker")]);
    await expectOwnerAnswersOnlyWhenAsked(owner, asker, LAYOUT.ownerSubject("edge-under-test"));
  });

  test("NATS: an edge's credentials cannot do what only workers do: acknowledge, pull from or delete the workers' consumer", async () => {
    const edge = await natsAs(seedOf("edge"), "edge-impostor");
    // Any shard's stream: the permissions are the same for each.
    const jsm = await edge.jetstreamManager();
    await expect(jsm.consumers.delete(SHARD0, NAMES.consumer)).rejects.toThrow(/Permissions Violation/);
    await expect(edge.request(`$JS.API.CONSUMER.MSG.NEXT.${SHARD0}.${NAMES.consumer}`, undefined, { timeout: 2000 })).rejects.toThrow(/Permissions Violation/);
    const violations = countViolations(edge);
    edge.publish(`$JS.ACK.${SHARD0}.${NAMES.consumer}.1.1.1.0.0`, new Uint8Array());
    // The server reports the refusal before it answers the flush's PING.
    await edge.flush();
    await until(() => violations.count === 1, 5_000, "the server to refuse the acknowledgement");
    // The consumer is still there, as the worker (which may look it up) sees.
    const asWorker = await natsAs(seedOf("worker"), "worker-check");
    const info = await (await asWorker.jetstreamManager()).consumers.info(SHARD0, NAMES.consumer);
    expect(info.name).toBe(NAMES.consumer);
    // And the worker's identity cannot append to the log or delete the stream.
    await expect((await asWorker.jetstreamManager()).streams.delete(SHARD0)).rejects.toThrow(/Permissions Violation/);
    await expect(asWorker.jetstream().publish(LAYOUT.subject(0), new Uint8Array([1]), { timeout: 2000 })).rejects.toThrow();
  });

  diagnostics.test("a forged bus event from an authenticated process that is not an edge never reaches a device", async () => {
    const carol = await client("carol", e1);
    const dave = await client("dave", e2);
    const conv = await carol.openDirect("dave");
    const seen = collect(dave);
    const typing: string[] = [];
    dave.on("typing", (t) => typing.push(t.dev));
    let disconnected = false;
    dave.on("disconnected", () => (disconnected = true));

    // The worker's identity is authenticated but may not publish on the bus: each forged event
    // (a message, a typing indicator, a revocation of dave's device) is refused by NATS.
    const forger = await natsAs(seedOf("worker"), "forger");
    const refused = countViolations(forger);
    const forgedMessage = { conv: conv.id, seq: 1_000, id: 1n, from: "carol", dev: "forged-dev", cid: "forged", kind: 1, body: new TextEncoder().encode("forged"), ts: Date.now() };
    forger.publish(subjects.conversation(conv.id), pack({ t: "msg", msg: forgedMessage }));
    forger.publish(subjects.conversation(conv.id), pack({ t: "typing", conv: conv.id, user: "carol", dev: "forged-dev", on: true }));
    forger.publish(subjects.user("dave"), pack({ t: "revoke", user: "dave", device: "dave-dev" }));
    await forger.flush();
    await until(() => refused.count === 3, 5_000, "the server to refuse the three forged events");

    // Everything after it arrives; the forged events never did (they would have come first).
    const realTyping = nextEvent(dave, "typing", (t) => t.dev === "carol-dev");
    carol.typing(conv.id, true);
    await realTyping;
    const got = nextEvent(dave, "message", (m) => m.conv === conv.id);
    await carol.send(conv.id, "genuine");
    expect(text(await got)).toBe("genuine");
    expect(seen.filter((m) => m.conv === conv.id).map(text)).toEqual(["genuine"]);
    expect(typing).toEqual(["carol-dev"]);
    expect(disconnected).toBe(false);
    expect(dave.connected).toBe(true);
  }, 30_000);

  test("Redis refuses a connection without the user's password, with a wrong one, and without TLS", async () => {
    const attempt = async (opts: RedisOptions) => {
      const r = new Redis({ host: HOST, port: redis.port, lazyConnect: true, enableReadyCheck: false, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 3000, ...opts });
      // connect() only says the connection closed; the error event has the server's reason.
      let reason: string | undefined;
      r.on("error", (err: Error) => (reason ??= err.message));
      try {
        await r.connect();
        return String(await r.ping());
      } catch (err) {
        return reason ?? (err as Error).message;
      } finally {
        r.disconnect();
      }
    };
    // No AUTH at all: the server answers every command with NOAUTH (the default user is off).
    const anonymous = await new Promise<string>((resolve, reject) => {
      const sock = tlsConnect({ host: HOST, port: redis.port, ca }, () => sock.write("PING\r\n"));
      let got = "";
      sock.on("data", (chunk: Buffer) => {
        got += chunk.toString();
        if (got.includes("\r\n")) {
          sock.destroy();
          resolve(got);
        }
      });
      sock.once("error", reject);
    });
    expect(anonymous).toStartWith("-NOAUTH");
    expect(await attempt({ tls: { ca }, username: "msgr", password: "not-the-password" })).toMatch(/WRONGPASS/);
    // The right password in plain text: the port speaks only TLS and hangs up without a reply.
    const plain = await new Promise<string>((resolve) => {
      const sock = createConnection({ host: HOST, port: redis.port }, () => sock.write(`AUTH msgr ${password(secrets.redis)}\r\nPING\r\n`));
      let got = "";
      sock.on("data", (chunk: Buffer) => (got += chunk.toString()));
      sock.once("error", () => {});
      sock.once("close", () => resolve(got));
    });
    expect(plain).not.toContain("+OK");
    expect(plain).not.toContain("PONG");
    expect(await attempt({ tls: { ca }, username: "msgr", password: password(secrets.redis) })).toBe("PONG");
  });

  test("PostgreSQL refuses a connection without the password, and one without TLS even with it", async () => {
    const attempt = async (opts: postgres.Options<Record<string, postgres.PostgresType>>) => {
      const sql = postgres(pg.url, { max: 1, connect_timeout: 5, onnotice: () => {}, ...opts });
      try {
        await sql`SELECT 1`;
        return "ok";
      } catch (err) {
        return (err as Error).message;
      } finally {
        await sql.end({ timeout: 0 });
      }
    };
    expect(await attempt({ ssl: { ca }, password: "not-the-password" })).toMatch(/password authentication failed/);
    expect(await attempt({ ssl: false, password: password(secrets.postgres) })).toMatch(/no pg_hba.conf entry .* no encryption/);
    expect(await attempt({ ssl: { ca }, password: password(secrets.postgres) })).toBe("ok");
  });

  test("Cassandra refuses a client without credentials, and one that does not speak TLS", async () => {
    const attempt = async (opts: Partial<cassandra.ClientOptions>) => {
      const c = new cassandra.Client({ contactPoints: [cass.contactPoint], localDataCenter: cass.localDataCenter, socketOptions: { coalescingThreshold: 16 * 1024, connectTimeout: 3000 }, ...opts });
      try {
        await c.connect();
        return "ok";
      } catch (err) {
        return Object.values((err as { innerErrors?: Record<string, Error> }).innerErrors ?? {}).map((e) => `${e.name}: ${e.message}`).join("; ") || (err as Error).message;
      } finally {
        await c.shutdown();
      }
    };
    const tls = { sslOptions: { ca: [ca], rejectUnauthorized: true } };
    expect(await attempt(tls)).toMatch(/AuthenticationError: .*requires authentication/);
    expect(await attempt({ ...tls, authProvider: new cassandra.auth.PlainTextAuthProvider("msgr", "not-the-password") })).toMatch(/AuthenticationError/);
    // The default superuser was retired.
    expect(await attempt({ ...tls, authProvider: new cassandra.auth.PlainTextAuthProvider("cassandra", "cassandra") })).toMatch(/AuthenticationError/);
    // Plain CQL: the node takes the STARTUP frame for a broken TLS handshake and hangs up without a reply frame.
    const reply = await new Promise<Buffer>((resolve) => {
      const sock = createConnection({ host: HOST, port: cass.port });
      let got = Buffer.alloc(0);
      sock.once("connect", () => sock.write(Buffer.from([0x04, 0, 0, 0, 0x01, 0, 0, 0, 0x16, 0, 1, 0, 11, ...Buffer.from("CQL_VERSION"), 0, 5, ...Buffer.from("3.0.0")])));
      sock.on("data", (chunk: Buffer) => (got = Buffer.concat([got, chunk])));
      sock.once("close", () => resolve(got));
      sock.once("error", () => {});
    });
    expect(reply[0] === 0x84 && (reply[4] === 0x02 || reply[4] === 0x03)).toBe(false);
    expect(await attempt({ ...tls, authProvider: new cassandra.auth.PlainTextAuthProvider("msgr", password(secrets.cassandra)) })).toBe("ok");
  });

  test("MinIO refuses unsigned requests, a wrong secret key, and plain HTTP", async () => {
    const bucket = DEFAULTS.minio.bucket; // created by the edges at start, over TLS
    const anonymous = await fetch(`https://${HOST}:${minio.port}/${bucket}?list-type=2`, { tls: { ca } });
    expect(anonymous.status).toBe(403);
    const agent = new (await import("node:https")).Agent({ ca });
    const wrong = new MinioClient({ endPoint: HOST, port: minio.port, useSSL: true, accessKey: minio.accessKey, secretKey: "not-the-secret", transportAgent: agent });
    await expect(wrong.bucketExists(bucket)).rejects.toThrow();
    const plain = await fetch(`http://${HOST}:${minio.port}/${bucket}?list-type=2`).then(
      (r) => r.status,
      () => 0,
    );
    expect(plain === 0 || plain >= 400).toBe(true);
    const right = new MinioClient({ endPoint: HOST, port: minio.port, useSSL: true, accessKey: minio.accessKey, secretKey: password(secrets.minio), transportAgent: agent });
    expect(await right.bucketExists(bucket)).toBe(true);
  });
});
