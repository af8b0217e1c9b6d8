// The credential and TLS settings: pairs that only work together and secrets given twice are
// refused when the config loads; secret files are read from a path or a systemd credential, and
// refused when other users can read them; what each engine's connection options get from them.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { nkeys } from "nats";
import { ConfigError, environmentVariables, loadConfig, requireSharedInCluster, resolveConfig, unsharedInCluster } from "../../src/config/config.ts";
import { cassandraClientOptions } from "../../src/connect/cassandra.ts";
import { readSecret, resolveFileSetting } from "../../src/connect/files.ts";
import { minioClientOptions } from "../../src/connect/minio.ts";
import { unprotectedLinks } from "../../src/connect/posture.ts";
import { natsClientOptions } from "../../src/connect/nats.ts";
import { postgresClientOptions } from "../../src/connect/postgres.ts";
import { redisAclRules, redisClientOptions } from "../../src/connect/redis.ts";
import { hostOf, identityAmong } from "../../src/connect/tls.ts";
import { makeCert } from "../helpers/services/certs.ts";
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";

let dir: string;
const file = (name: string, content: string, mode = 0o600) => {
  const path = join(dir, name);
  writeFileSync(path, content, { mode });
  chmodSync(path, mode);
  return path;
};

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "msgr-secrets-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("config: credential and TLS settings", () => {
  test("every new setting has an environment variable, and the defaults need no files", () => {
    const vars = environmentVariables();
    for (const v of ["MSGR_SERVER_TLS_CERT_FILE", "MSGR_NATS_NKEY_FILE", "MSGR_NATS_CREDS_FILE", "MSGR_NATS_TLS_CA_FILE", "MSGR_REDIS_PASSWORD_FILE", "MSGR_POSTGRES_TLS", "MSGR_CASSANDRA_USERNAME", "MSGR_MINIO_SECRET_KEY_FILE"]) {
      expect(vars).toContain(v);
    }
    const c = resolveConfig({}, {});
    expect(natsClientOptions(c, "n", {})).toEqual({ servers: c.nats.servers, name: "n" });
    expect(redisClientOptions(c, {})).toEqual({});
    expect(postgresClientOptions(c, {})).toEqual({});
    expect(cassandraClientOptions(c, {})).toEqual({});
  });

  test.each([
    [{ MSGR_SERVER_TLS_CERT_FILE: "/c.pem" }, /server.tlsCertFile and server.tlsKeyFile go together/],
    [{ MSGR_NATS_NKEY_FILE: "/a.nk", MSGR_NATS_CREDS_FILE: "/a.creds" }, /nats.nkeyFile and nats.credsFile/],
    [{ MSGR_REDIS_TLS_CA_FILE: "/ca.pem" }, /redis.tlsCaFile is set but redis.tls is false/],
    [{ MSGR_CASSANDRA_TLS_CA_FILE: "/ca.pem" }, /cassandra.tlsCaFile is set but cassandra.tls is false/],
    [{ MSGR_MINIO_TLS_CA_FILE: "/ca.pem" }, /minio.tlsCaFile is set but minio.useSSL is false/],
    [{ MSGR_MINIO_SECRET_KEY: "s", MSGR_MINIO_SECRET_KEY_FILE: "/s" }, /keep only minio.secretKeyFile/],
    [{ MSGR_CASSANDRA_USERNAME: "msgr" }, /cassandra.username and cassandra.passwordFile go together/],
    [{ MSGR_REDIS_USERNAME: "msgr" }, /redis.username needs redis.passwordFile/],
    [{ MSGR_POSTGRES_URL: "postgres://msgr:pw@db/msgr", MSGR_POSTGRES_PASSWORD_FILE: "/pw" }, /remove the password from the URL/],
    [{ MSGR_JETSTREAM_STREAM: "MSGR.LOG" }, /jetstream.stream may hold only/],
    [{ MSGR_WORKER_CONSUMER: "writers>" }, /worker.consumer may hold only/],
  ])("%p is refused with a message naming the setting", (env, message) => {
    expect(() => resolveConfig({}, env)).toThrow(ConfigError);
    expect(() => resolveConfig({}, env)).toThrow(message);
  });
});

describe("secret files", () => {
  test("a path or credential:NAME (systemd LoadCredential), with the trailing newline dropped", () => {
    const creds = join(dir, "creds");
    mkdirSync(creds, { mode: 0o700 });
    writeFileSync(join(creds, "redis-password"), "from-systemd\n", { mode: 0o400 });
    expect(readSecret("redis.passwordFile", "credential:redis-password", { CREDENTIALS_DIRECTORY: creds })).toBe("from-systemd");
    expect(readSecret("redis.passwordFile", file("plain.pw", "from-a-file\n"), {})).toBe("from-a-file");
  });

  test("credential:NAME without $CREDENTIALS_DIRECTORY, or with a path in NAME, is refused", () => {
    expect(() => resolveFileSetting("nats.nkeyFile", "credential:nats.nk", {})).toThrow(/\$CREDENTIALS_DIRECTORY is not set; pass it with LoadCredential=nats.nk:/);
    expect(() => resolveFileSetting("nats.nkeyFile", "credential:../etc/shadow", { CREDENTIALS_DIRECTORY: dir })).toThrow(/not a valid credential name/);
  });

  test("a secret file other users can read or write is refused, naming the setting and the mode; group-readable is allowed", () => {
    expect(() => readSecret("postgres.passwordFile", file("open.pw", "x\n", 0o644), {})).toThrow(/postgres.passwordFile: .*open.pw holds a secret but other users can read it \(mode 0644\)/);
    expect(() => readSecret("postgres.passwordFile", file("writable.pw", "x\n", 0o602), {})).toThrow(/other users can write it/);
    expect(readSecret("postgres.passwordFile", file("group.pw", "x\n", 0o640), {})).toBe("x");
  });

  test("a missing or empty secret file is refused at start with the reason", () => {
    expect(() => readSecret("redis.passwordFile", join(dir, "nope"), {})).toThrow(/redis.passwordFile: cannot read .*nope: ENOENT/);
    expect(() => readSecret("redis.passwordFile", file("empty.pw", "\n"), {})).toThrow(/is empty/);
  });

  test("the process refuses to start its NATS connection with a world-readable seed, or with something that is not a user seed", () => {
    const seed = new TextDecoder().decode(nkeys.createUser().getSeed());
    const open = file("open.nk", `${seed}\n`, 0o644);
    expect(() => natsClientOptions(resolveConfig({ nats: { nkeyFile: open } }, {}), "n", {})).toThrow(/nats.nkeyFile: .* other users can read it/);
    const account = file("account.nk", new TextDecoder().decode(nkeys.createAccount().getSeed()));
    expect(() => natsClientOptions(resolveConfig({ nats: { nkeyFile: account } }, {}), "n", {})).toThrow(/does not hold an nkey user seed/);
    const good = file("good.nk", `${seed}\n`);
    expect(natsClientOptions(resolveConfig({ nats: { nkeyFile: good } }, {}), "n", {}).authenticator).toBeFunction();
  });
});

describe("connection options", () => {
  test("each engine's options carry the password from its file and require a verified TLS connection", () => {
    const pw = file("engine.pw", "hunter2-but-long\n");
    const ca = file("ca.pem", "-----BEGIN CERTIFICATE-----\n", 0o644);
    const c = resolveConfig(
      {
        redis: { url: "redis://10.0.0.21:6379", username: "msgr", passwordFile: pw, tls: true, tlsCaFile: ca },
        postgres: { url: "postgres://msgr@db1.internal:5432,db2.internal:5432/msgr", passwordFile: pw, tls: true, tlsCaFile: ca },
        cassandra: { username: "msgr", passwordFile: pw, tls: true, tlsCaFile: ca },
        minio: { useSSL: true, secretKeyFile: pw, tlsCaFile: ca },
        nats: { tls: true, tlsCaFile: ca },
      },
      {},
    );
    expect(redisClientOptions(c, {})).toEqual({ username: "msgr", password: "hunter2-but-long", tls: { ca: "-----BEGIN CERTIFICATE-----\n" } });
    const pg = postgresClientOptions(c, {});
    expect(pg.password).toBe("hunter2-but-long");
    expect(pg.ssl).toMatchObject({ rejectUnauthorized: true, ca: "-----BEGIN CERTIFICATE-----\n" });
    const cass = cassandraClientOptions(c, {});
    expect(cass.authProvider).toBeDefined();
    // The driver's own default is rejectUnauthorized: false: it must be turned on.
    expect(cass.sslOptions).toMatchObject({ rejectUnauthorized: true, ca: ["-----BEGIN CERTIFICATE-----\n"] });
    const minio = minioClientOptions(c, {});
    expect(minio.secretKey).toBe("hunter2-but-long");
    expect(minio.transportAgent?.options.ca).toBe("-----BEGIN CERTIFICATE-----\n");
    expect(natsClientOptions(c, "n", {}).tls).toMatchObject({ ca: "-----BEGIN CERTIFICATE-----\n" });
    // rediss:// alone turns TLS on.
    expect(redisClientOptions(resolveConfig({ redis: { url: "rediss://r:6379" } }, {}), {}).tls).toEqual({});
  });

  test("a server certificate must name one of the configured servers, also when they are IP addresses", async () => {
    const cert = await makeCert(join(dir, "certs"));
    const x509 = new X509Certificate(readFileSync(cert.certFile));
    const peer = { subject: { CN: "server" }, subjectaltname: x509.subjectAltName } as unknown as import("node:tls").PeerCertificate;
    // The clients pass "localhost" when they dialled an IP; the check ignores it and uses the configured hosts.
    expect(identityAmong(["127.0.0.1"])("localhost", peer)).toBeUndefined();
    expect(identityAmong(["10.0.0.11", "10.0.0.12"])("localhost", peer)).toBeInstanceOf(Error);
    expect(identityAmong(["db.example.com", "localhost"])("whatever", peer)).toBeUndefined();
    expect(["nats://10.0.0.11:4222", "tls://nats-2.internal:4222", "[::1]:4222", "10.0.0.13"].map(hostOf)).toEqual(["10.0.0.11", "nats-2.internal", "::1", "10.0.0.13"]);
  });
});

describe("unprotected links, warned about at start", () => {
  const cluster = { backends: { bus: "nats", presence: "redis", metadata: "postgres", messages: "jetstream" }, media: { store: "minio" } } as const;

  test("a cluster without credentials or TLS lists each link and the setting that closes it; embedded mode lists none", () => {
    expect(unprotectedLinks(resolveConfig({}, {}), "edge")).toEqual([]);
    const remote = {
      nats: { servers: ["nats://10.0.0.11:4222"] },
      redis: { url: "redis://:pw@r:6379" },
      postgres: { url: "postgres://msgr@db:5432/msgr" },
      cassandra: { contactPoints: ["10.0.0.41:9042"] },
      minio: { endPoint: "minio.internal", secretKey: "s" },
    };
    const open = unprotectedLinks(resolveConfig({ ...cluster, ...remote }, {}), "edge");
    for (const setting of ["nats.nkeyFile", "nats.tls", "redis.tls", "redis.passwordFile", "postgres.passwordFile", "postgres.tls", "cassandra.username", "cassandra.tls", "minio.useSSL", "minio.secretKeyFile"]) {
      expect(open.some((line) => line.includes(setting))).toBe(true);
    }
    expect(unprotectedLinks(resolveConfig(remote, {}), "worker").join("\n")).toMatch(/nats.nkeyFile[^]*cassandra.tls/);
    // On loopback (the defaults, one machine) only the missing credentials count.
    const local = unprotectedLinks(resolveConfig(cluster, {}), "edge").join("\n");
    expect(local).toContain("nats.nkeyFile");
    expect(local).not.toMatch(/\.tls\)|useSSL/);
  });

  test("a cluster with every link covered lists nothing", () => {
    const config = resolveConfig(
      {
        ...cluster,
        nats: { nkeyFile: "/n", tls: true },
        redis: { username: "msgr", passwordFile: "/p", tls: true },
        postgres: { passwordFile: "/p", tls: true },
        cassandra: { username: "msgr", passwordFile: "/p", tls: true },
        minio: { useSSL: true, secretKeyFile: "/p" },
      },
      {},
    );
    expect(unprotectedLinks(config, "edge")).toEqual([]);
    expect(unprotectedLinks(config, "worker")).toEqual([]);
  });
});

test("infra/production/redis.conf gives msgr the ACL rules the code needs", () => {
  const conf = readFileSync(join(import.meta.dir, "../../infra/production/redis.conf"), "utf8");
  expect(conf).toContain("\nuser default off\n");
  expect(conf).toMatch(new RegExp(`\nuser msgr on #[0-9a-f]{64} ${redisAclRules().replace(/[|*+]/g, "\\$&")}\n`));
});

test("infra/production/msgr-cluster.toml covers every link of an edge and a worker, with no secret in it", () => {
  const file = join(import.meta.dir, "../../infra/production/msgr-cluster.toml");
  const config = loadConfig(file, {});
  expect(unprotectedLinks(config, "edge")).toEqual([]);
  expect(unprotectedLinks(config, "worker")).toEqual([]);
  // And an edge started with it shares every key and store the others must agree on.
  expect(unsharedInCluster(config)).toEqual([]);
  expect(readFileSync(file, "utf8")).not.toMatch(/password\s*=|secretKey\s*=\s*"[^"]|:\/\/[^/@\s]*:[^/@\s]*@/);
});

test("a token key file with a secret (an HMAC key, a private key) is refused when others can read it; public keys may be", async () => {
  const { loadKeyring } = await import("../../src/auth/keyring.ts");
  const hmac = { keys: [{ kid: "k1", alg: "HS256", kty: "oct", k: Buffer.alloc(32, 7).toString("base64url") }] };
  await expect(loadKeyring(file("hmac.json", JSON.stringify(hmac), 0o644))).rejects.toThrow(/auth.keysFile: .* other users can read it/);
  expect((await loadKeyring(file("hmac-private.json", JSON.stringify(hmac), 0o600))).key("k1", "HS256").alg).toBe("HS256");
  const { generateKeyPairSync } = await import("node:crypto");
  const publicJwk = generateKeyPairSync("ed25519").publicKey.export({ format: "jwk" });
  const publicOnly = { keys: [{ ...publicJwk, kid: "e1", alg: "EdDSA" }] };
  expect((await loadKeyring(file("public.json", JSON.stringify(publicOnly), 0o644))).key("e1", "EdDSA").alg).toBe("EdDSA");
});

test("an edge in cluster mode with a key or store of its own is refused, naming each setting that fixes it", () => {
  const cluster = { backends: { bus: "nats", presence: "redis" } } as const;
  const problems = unsharedInCluster(resolveConfig(cluster, {}));
  expect(problems.map((p) => p.split(" ")[0])).toEqual(["auth.keysFile", "media.signingKeyFile", "media.localDir", "push.vapidKeysFile"]);
  expect(() => requireSharedInCluster(resolveConfig(cluster, {}))).toThrow(ConfigError);
  expect(unsharedInCluster(resolveConfig({ ...cluster, backends: { bus: "nats", presence: "memory" } }, {}))).toContainEqual(expect.stringContaining('backends.presence = "memory"'));
  // Shared files, or MinIO and no Web Push: nothing to refuse. One process: nothing is ever refused.
  const shared = { auth: { keysFile: "/k/jwks.json" }, media: { localDir: "/m", signingKeyFile: "/k/media.key" }, push: { vapidKeysFile: "/k/vapid.json" } };
  expect(unsharedInCluster(resolveConfig({ ...cluster, ...shared }, {}))).toEqual([]);
  expect(unsharedInCluster(resolveConfig({ ...cluster, auth: shared.auth, media: { store: "minio" }, push: { enabled: false } }, {}))).toEqual([]);
  expect(unsharedInCluster(resolveConfig({}, {}))).toEqual([]);
});
