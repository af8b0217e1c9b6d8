// nats.credsFile: NATS servers in operator mode (accounts and users as JWTs, usually made with
// `nsc`) authenticate msgr with a user credentials file. Here a tiny operator, account and two
// users are signed in the test (NATS JWTs are ed25519-signed with nkeys), carrying the same
// per-role permissions as msgr-accounts.conf: the edge's credentials open the message log; the
// worker's cannot publish on the bus; a credentials file others can read is refused.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, credsAuthenticator, Events, nkeys } from "nats";

type KeyPair = ReturnType<typeof nkeys.createUser>;
import pino from "pino";
import { DEFAULTS, resolveConfig } from "../../src/config/config.ts";
import { natsClientOptions } from "../../src/connect/nats.ts";
import { natsPermissions, type NatsRole, type RolePermissions } from "../../src/connect/nats-permissions.ts";
import { LogLayout } from "../../src/storage/jetstream/layout.ts";
import { MessageLog } from "../../src/storage/jetstream/message-log.ts";
import { until } from "../helpers/harness.ts";
import { expectOwnerAnswersOnlyWhenAsked } from "../helpers/nats-replies.ts";
import { startNats, type NatsServer } from "../helpers/services/nats.ts";

const b64url = (b: Uint8Array | string) => Buffer.from(b).toString("base64url");
const text = (b: Uint8Array) => new TextDecoder().decode(b);

/** A NATS JWT (v2): claims signed by `signer`, with the jti the tools put there. */
function jwt(signer: KeyPair, claims: Record<string, unknown>): string {
  const body: Record<string, unknown> = { ...claims, iat: Math.floor(Date.now() / 1000), iss: signer.getPublicKey() };
  body.jti = createHash("sha256").update(JSON.stringify(body)).digest("base64url");
  const signed = `${b64url(JSON.stringify({ typ: "JWT", alg: "ed25519-nkey" }))}.${b64url(JSON.stringify(body))}`;
  return `${signed}.${b64url(signer.sign(new TextEncoder().encode(signed)))}`;
}

/** The .creds file format that nsc writes and nats.js reads. */
const credsFile = (userJwt: string, seed: Uint8Array) =>
  `-----BEGIN NATS USER JWT-----\n${userJwt}\n------END NATS USER JWT------\n\n-----BEGIN USER NKEY SEED-----\n${text(seed)}\n------END USER NKEY SEED------\n`;

const names = { stream: DEFAULTS.jetstream.stream, shards: DEFAULTS.jetstream.shards, consumer: DEFAULTS.worker.consumer };
let root: string;
let nats: NatsServer;
const creds = {} as Record<NatsRole, string>;

/** A role's `responses` as a user JWT says it: `resp`, its time to live in nanoseconds. */
const resp = (r: RolePermissions["responses"]) => (r ? { resp: { max: r.max, ttl: r.expiresMs * 1_000_000 } } : {});

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "msgr-nats-creds-"));
  const operator = nkeys.createOperator();
  const account = nkeys.createAccount();
  const unlimited = { subs: -1, conn: -1, leaf: -1, imports: -1, exports: -1, data: -1, payload: -1, wildcards: true };
  const accountJwt = jwt(operator, {
    sub: account.getPublicKey(),
    name: "MSGR",
    nats: { type: "account", version: 2, limits: { ...unlimited, mem_storage: -1, disk_storage: -1, streams: -1, consumer: -1 } },
  });
  const perms = natsPermissions(names);
  for (const role of ["edge", "worker"] as const) {
    const user = nkeys.createUser();
    const userJwt = jwt(account, {
      sub: user.getPublicKey(),
      name: role,
      nats: { type: "user", version: 2, pub: { allow: perms[role].publish }, sub: { allow: perms[role].subscribe }, ...resp(perms[role].responses), subs: -1, data: -1, payload: -1 },
    });
    creds[role] = join(root, `${role}.creds`);
    writeFileSync(creds[role], credsFile(userJwt, user.getSeed()), { mode: 0o600 });
  }
  // JetStream in operator mode needs a system account.
  const system = nkeys.createAccount();
  const systemJwt = jwt(operator, { sub: system.getPublicKey(), name: "SYS", nats: { type: "account", version: 2, limits: unlimited } });
  const operatorJwt = jwt(operator, { sub: operator.getPublicKey(), name: "test-operator", nats: { type: "operator", version: 2, system_account: system.getPublicKey() } });
  nats = await startNats({
    jetstream: true,
    extraConfig: `operator: ${operatorJwt}\nsystem_account: ${system.getPublicKey()}\nresolver: MEMORY\nresolver_preload: { ${account.getPublicKey()}: ${accountJwt}, ${system.getPublicKey()}: ${systemJwt} }\n`,
  });
});

afterAll(async () => {
  await nats?.stop();
  if (root) rmSync(root, { recursive: true, force: true });
});

describe("nats.credsFile (operator mode)", () => {
  test("the edge's credentials file opens the message log; without one the server refuses", async () => {
    const config = resolveConfig({ nats: { servers: [nats.url], credsFile: creds.edge } }, {});
    const log = await MessageLog.open({ ...config.jetstream, ...natsClientOptions(config, "edge-creds", {}), consumer: config.worker.consumer, log: pino({ level: "silent" }) });
    try {
      const message = { conv: "c", seq: 1, id: 1n, from: "a", dev: "d", cid: "x", kind: 1, body: new Uint8Array([1]), ts: 1 };
      expect((await log.publish(0, { writer: "w", epoch: 1, n: 1, messages: [message] }, { lastSeq: 0 })).kind).toBe("stored");
    } finally {
      await log.close();
    }
    await expect(connect({ servers: nats.url, maxReconnectAttempts: 0 })).rejects.toThrow(/Authorization Violation/);
  });

  test("an edge answers another edge's request to its owner subject, and may publish on no other inbox", async () => {
    const asEdge = () => connect({ servers: nats.url, authenticator: credsAuthenticator(new TextEncoder().encode(readFileSync(creds.edge, "utf8"))) });
    const [owner, asker] = await Promise.all([asEdge(), asEdge()]);
    try {
      await expectOwnerAnswersOnlyWhenAsked(owner, asker, new LogLayout(names.stream, names.shards).ownerSubject("edge-1"));
    } finally {
      await Promise.all([owner.close(), asker.close()]);
    }
  });

  test("the worker's credentials cannot publish on the bus", async () => {
    const nc = await connect({ servers: nats.url, authenticator: credsAuthenticator(new TextEncoder().encode(await Bun.file(creds.worker).text())) });
    try {
      let violations = 0;
      void (async () => {
        for await (const s of nc.status()) if (s.type === Events.Error) violations++;
      })();
      nc.publish("msgr.conv.c", new Uint8Array([1]));
      await nc.flush();
      await until(() => violations === 1, 5_000, "the server to refuse the publish");
    } finally {
      await nc.close();
    }
  });

  test("a credentials file other users can read is refused", () => {
    const open = join(root, "open.creds");
    writeFileSync(open, "x", { mode: 0o644 });
    expect(() => natsClientOptions(resolveConfig({ nats: { credsFile: open } }, {}), "n", {})).toThrow(/nats.credsFile: .* other users can read it/);
  });
});
