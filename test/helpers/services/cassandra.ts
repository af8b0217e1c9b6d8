// A real single-node Cassandra 5.0 child process on free loopback ports, for the contract and
// outage tests. Each call gets its own temp data directory, removed on stop. There is no Debian
// package or Docker here: infra/services/install-cassandra.sh fetches the jars from Maven Central
// once (about half a minute), and infra/services/cassandra.sh writes the config and runs the JVM.

import { existsSync, readFileSync, rmSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { createConnection } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { ensureCassandraRoles } from "../../../infra/services/cassandra-roles.ts";
import type { TestCert } from "./certs.ts";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePorts, installedByScript } from "./common.ts";
import { spawnEngine, type EngineProcess } from "./engine-process.ts";

export interface CassandraServer {
  host: string;
  /** The CQL native-protocol port. */
  port: number;
  /** "127.0.0.1:PORT", for the driver's contactPoints. */
  contactPoint: string;
  /** The data center the driver must name as localDataCenter ("datacenter1" with SimpleSnitch). */
  localDataCenter: string;
  /** The JVM's process id while it runs (for CPU accounting in the bench). */
  readonly pid: number | undefined;
  /** Kills the server and removes its data; safe to call twice. */
  stop(): Promise<void>;
  /** Stops it cleanly (SIGTERM: Cassandra drains) and starts it again on the same ports and data. */
  restart(): Promise<void>;
  /** Stops it cleanly, keeping its data and ports, for outage tests. */
  pause(): Promise<void>;
  /** Starts it again after pause(); resolves once it answers CQL. */
  resume(): Promise<void>;
}

const HOST = "127.0.0.1";
const SERVICES = join(import.meta.dir, "../../../infra/services");
const READY_TIMEOUT_MS = 180_000;
/** A clean stop takes about a second (drain: flush memtables); a wedged one is killed after this. */
const STOP_TIMEOUT_MS = 60_000;
const LOG_LIMIT = 16 * 1024;
/** SimpleSnitch puts every node in this data center (and rack "rack1"). */
const DATA_CENTER = "datacenter1";

/** The install directory, installed on first use (memoised, so concurrent callers share one install). */
export function cassandraHome(): Promise<string> {
  return installedByScript("install-cassandra.sh");
}

/**
 * Whether a CQL STARTUP on `port` gets READY (or, with authentication on, AUTHENTICATE): the
 * native transport opens last, once the node is usable. Over TLS when `ca` is given.
 */
function cqlReady(port: number, ca?: string): Promise<boolean> {
  // Protocol v4 frame: version, flags, stream (2 bytes), opcode 0x01 STARTUP, body length; the
  // body is a string map {CQL_VERSION: "3.0.0"}. The reply's header is 0x84 ... opcode 0x02 READY.
  const entry = (s: string) => [0, s.length, ...Buffer.from(s)];
  const body = Buffer.from([0, 1, ...entry("CQL_VERSION"), ...entry("3.0.0")]);
  const header = Buffer.alloc(9);
  header.writeUInt8(0x04, 0);
  header.writeUInt8(0x01, 4);
  header.writeUInt32BE(body.length, 5);
  return new Promise((resolve) => {
    const sock = ca === undefined ? createConnection({ host: HOST, port }) : tlsConnect({ host: HOST, port, ca });
    let reply = Buffer.alloc(0);
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(2000, () => done(false));
    sock.once(ca === undefined ? "connect" : "secureConnect", () => sock.write(Buffer.concat([header, body])));
    sock.on("data", (chunk: Buffer) => {
      reply = Buffer.concat([reply, chunk]);
      if (reply.length >= 9) done(reply[0] === 0x84 && (reply[4] === 0x02 || (ca !== undefined && reply[4] === 0x03)));
    });
    sock.once("error", () => done(false));
    sock.once("end", () => done(false));
  });
}

function tail(file: string, lines: number): string {
  try {
    return readFileSync(file, "utf8").split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

/**
 * As the local cluster runs it: PasswordAuthenticator and CassandraAuthorizer, with the default
 * superuser replaced by `admin` and a `msgr` role that may only create its keyspace
 * (infra/services/cassandra-roles.ts), and client-to-node TLS required.
 */
export interface CassandraSecurity {
  cert: TestCert;
  adminPasswordFile: string;
  /** msgr's password (cassandra.passwordFile, role "msgr"). */
  msgrPasswordFile: string;
}

export async function startCassandra(opts: { secure?: CassandraSecurity } = {}): Promise<CassandraServer> {
  const home = await cassandraHome();
  const [port, storagePort] = (await freePorts(2, HOST)) as [number, number];
  const dir = await mkdtemp(join(tmpdir(), "msgr-cassandra-"));
  const logFile = join(dir, "logs", "system.log");

  // bash execs the JVM, so the engine's pid is the JVM's.
  const cmd = ["bash", join(SERVICES, "cassandra.sh"), "run", dir, String(port), String(storagePort), "msgr_test"];
  const env = {
    ...process.env,
    MSGR_CASSANDRA_INSTALL_DIR: home,
    // Tests only: no fsync (a clean stop still flushes everything, and a test never outlives the
    // machine's page cache). Never in production.
    MSGR_CASSANDRA_JVM_OPTS: "-Dcassandra.skip_sync=true",
    ...(opts.secure ? { MSGR_CASSANDRA_AUTH: "password", MSGR_CASSANDRA_TLS_CERT: opts.secure.cert.certFile, MSGR_CASSANDRA_TLS_KEY: opts.secure.cert.keyFile } : {}),
  };
  const ca = opts.secure ? readFileSync(opts.secure.cert.caFile, "utf8") : undefined;

  let proc: EngineProcess | undefined;
  let output = "";

  const launch = async () => {
    output = "";
    const p = spawnEngine(cmd, { env });
    proc = p;
    // Keep reading both pipes (a full pipe blocks the JVM); the tail goes in the error below.
    for (const stream of [p.stdout, p.stderr]) {
      void (async () => {
        const decoder = new TextDecoder();
        for await (const chunk of stream) output = (output + decoder.decode(chunk, { stream: true })).slice(-LOG_LIMIT);
      })();
    }
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (!(await cqlReady(port, ca))) {
      if (p.exitCode !== null || Date.now() > deadline) {
        const why = p.exitCode !== null ? `exited with ${p.exitCode}` : `did not answer CQL within ${READY_TIMEOUT_MS / 1000} s`;
        await halt("SIGKILL");
        throw new Error(`cassandra on ${HOST}:${port} ${why}; its output:\n${output}\nlast lines of ${logFile}:\n${tail(logFile, 40)}`);
      }
      await Bun.sleep(100);
    }
  };

  /** SIGTERM runs Cassandra's drain (about a second); SIGKILL is for when the data goes anyway. */
  const halt = async (signal: "SIGTERM" | "SIGKILL") => {
    const p = proc;
    proc = undefined;
    if (!p || p.exitCode !== null) return;
    p.kill(signal);
    const timer = setTimeout(() => p.kill("SIGKILL"), STOP_TIMEOUT_MS);
    await p.exited;
    clearTimeout(timer);
  };

  // If the test process exits without stop() (a failed test, an interrupted run), take the JVM
  // down with it and delete its files. Exit hooks are synchronous: SIGKILL, then wait briefly.
  const onExit = () => {
    const pid = proc?.pid;
    if (pid !== undefined) {
      proc!.kill("SIGKILL");
      for (let i = 0; i < 200 && existsSync(`/proc/${pid}`) && !isZombie(pid); i++) Bun.sleepSync(10);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  process.on("exit", onExit);

  try {
    await launch();
    if (opts.secure) {
      const { caFile } = opts.secure.cert;
      await ensureCassandraRoles({ contactPoint: `${HOST}:${port}`, localDataCenter: DATA_CENTER, caFile, ...opts.secure });
    }
  } catch (e) {
    process.off("exit", onExit);
    await halt("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }

  let stopped = false;
  return {
    host: HOST,
    port,
    contactPoint: `${HOST}:${port}`,
    localDataCenter: DATA_CENTER,
    get pid() {
      return proc?.pid;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      process.off("exit", onExit);
      await halt("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    },
    async restart() {
      if (stopped) throw new Error("cassandra: restart() after stop()");
      await halt("SIGTERM");
      await launch();
    },
    pause: () => halt("SIGTERM"),
    async resume() {
      if (stopped) throw new Error("cassandra: resume() after stop()");
      if (!proc) await launch();
    },
  };
}

function isZombie(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, "utf8").split(" ")[2] === "Z";
  } catch {
    return true;
  }
}
