// Roles for a Cassandra started with MSGR_CASSANDRA_AUTH=password (cassandra.sh): replaces the
// well-known default superuser cassandra/cassandra with `admin` (password from a file), and
// creates msgr's own login role, which may create keyspaces (msgr creates its keyspace and
// tables on first start and, as their creator, gets every permission on them) and nothing else:
// it cannot read or change other keyspaces, roles or permissions. Idempotent: run it after every
// start; it also brings the passwords in line with the files. Over TLS when the node requires it.
//
//   bun infra/services/cassandra-roles.ts HOST:PORT CA_FILE ADMIN_PASSWORD_FILE MSGR_PASSWORD_FILE
//
// Used by the local cluster (start.sh) and the test launcher (test/helpers/services/cassandra.ts).
// Production: the same statements, run once with cqlsh (docs/self-hosting.md, Security).

import { readFileSync } from "node:fs";
import cassandra from "cassandra-driver";

export interface CassandraRolesOptions {
  /** host:port of the node. */
  contactPoint: string;
  localDataCenter?: string;
  /** The CA of the node's certificate; undefined: plain CQL. */
  caFile?: string;
  adminPasswordFile: string;
  msgrPasswordFile: string;
  /** msgr's role name (cassandra.username); "msgr" by default. */
  msgrRole?: string;
  /** How long to wait for the default superuser, which a new node creates shortly after it opens CQL. */
  timeoutMs?: number;
}

const ADMIN = "admin";

/** A CQL string literal: CREATE/ALTER ROLE take no bind markers for passwords. */
const literal = (s: string) => `'${s.replaceAll("'", "''")}'`;
const readPassword = (file: string) => readFileSync(file, "utf8").replace(/\r?\n$/, "");

function client(opts: CassandraRolesOptions, user: string, password: string): cassandra.Client {
  return new cassandra.Client({
    contactPoints: [opts.contactPoint],
    localDataCenter: opts.localDataCenter ?? "datacenter1",
    authProvider: new cassandra.auth.PlainTextAuthProvider(user, password),
    // Bun refuses TLS records over 16 KiB (src/connect/cassandra.ts).
    ...(opts.caFile ? { sslOptions: { ca: [readFileSync(opts.caFile, "utf8")], rejectUnauthorized: true }, socketOptions: { coalescingThreshold: 16 * 1024 } } : {}),
  });
}

/** Connected as `user`, or null when the node refuses the credentials. */
async function login(opts: CassandraRolesOptions, user: string, password: string): Promise<cassandra.Client | null> {
  const c = client(opts, user, password);
  try {
    await c.connect();
    return c;
  } catch (err) {
    await c.shutdown();
    const inner = Object.values((err as { innerErrors?: Record<string, Error> }).innerErrors ?? {});
    if (inner.some((e) => e instanceof cassandra.errors.AuthenticationError)) return null;
    throw err;
  }
}

/** Runs `cql`; a failure names `what`, never the statement (it may hold a password). */
async function run(c: cassandra.Client, cql: string, what: string): Promise<void> {
  try {
    await c.execute(cql);
  } catch (err) {
    throw new Error(`cassandra-roles: ${what} failed: ${(err as Error).message}`);
  }
}

export async function ensureCassandraRoles(opts: CassandraRolesOptions): Promise<void> {
  const adminPassword = readPassword(opts.adminPasswordFile);
  const msgrPassword = readPassword(opts.msgrPasswordFile);
  const role = opts.msgrRole ?? "msgr";
  let admin = await login(opts, ADMIN, adminPassword);
  if (!admin) {
    // A new node: wait for its default superuser, make ours, then retire the default one.
    const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
    let initial: cassandra.Client | null = null;
    while (!(initial = await login(opts, "cassandra", "cassandra"))) {
      if (Date.now() > deadline) throw new Error(`cassandra-roles: neither ${ADMIN} nor the default superuser can log in to ${opts.contactPoint}`);
      await Bun.sleep(250);
    }
    try {
      await run(initial, `CREATE ROLE IF NOT EXISTS ${ADMIN} WITH SUPERUSER = true AND LOGIN = true AND PASSWORD = ${literal(adminPassword)}`, `creating role ${ADMIN}`);
    } finally {
      await initial.shutdown();
    }
    admin = await login(opts, ADMIN, adminPassword);
    if (!admin) throw new Error(`cassandra-roles: created ${ADMIN} but cannot log in with it`);
    // A role cannot change itself this way, hence from admin's session.
    await run(admin, "ALTER ROLE cassandra WITH SUPERUSER = false AND LOGIN = false", "retiring the default superuser");
  }
  try {
    await run(admin, `CREATE ROLE IF NOT EXISTS ${role} WITH LOGIN = true AND PASSWORD = ${literal(msgrPassword)}`, `creating role ${role}`);
    // Granted before msgr's first login: a session caches its role's permissions (2 s by
    // default), and one cached before the grant would refuse msgr's CREATE KEYSPACE meanwhile.
    await run(admin, `GRANT CREATE ON ALL KEYSPACES TO ${role}`, `granting CREATE to ${role}`);
    // Cassandra limits how often a password may change: only when the file has a new one.
    const current = await login(opts, role, msgrPassword);
    if (current) await current.shutdown();
    else await run(admin, `ALTER ROLE ${role} WITH PASSWORD = ${literal(msgrPassword)}`, `setting the password of ${role}`);
  } finally {
    await admin.shutdown();
  }
}

if (import.meta.main) {
  const [contactPoint, caFile, adminPasswordFile, msgrPasswordFile] = process.argv.slice(2);
  if (!contactPoint || !adminPasswordFile || !msgrPasswordFile) {
    console.error("usage: bun infra/services/cassandra-roles.ts HOST:PORT CA_FILE ADMIN_PASSWORD_FILE MSGR_PASSWORD_FILE");
    process.exit(2);
  }
  await ensureCassandraRoles({ contactPoint, caFile: caFile || undefined, adminPasswordFile, msgrPasswordFile });
  console.log(`cassandra: roles ${ADMIN} (superuser) and msgr are in place; the default superuser cannot log in`);
}
