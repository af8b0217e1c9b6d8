// Starts a real, throwaway PostgreSQL server for tests: a fresh cluster in a temp dir, on a free
// loopback port, run as a child process (never the system's cluster service), with one database
// created for the calling suite. stop() shuts it down and deletes everything it wrote.

import { chmodSync, chownSync, copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import type { TestCert } from "./certs.ts";
import { ensureInstalled, freePort } from "./common.ts";
import { spawnEngine } from "./engine-process.ts";

export interface PostgresServer {
  /** postgres://postgres@127.0.0.1:PORT/DB: the suite's database, as the superuser (trust auth); secure: as `msgr`, its owner. */
  url: string;
  /** Creates another empty database on the same server (for one more deployment); its URL, like `url`. */
  newDatabase(): Promise<string>;
  /** Stops the server and removes its files; safe to call twice. */
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 10_000;
const INSTALL_TIMEOUT_MS = 10 * 60_000;
/** Attempts at starting the server; another one is made only when the probed port was taken meanwhile. */
const START_ATTEMPTS = 3;
/** Server output kept for error messages. */
const LOG_LIMIT = 16 * 1024;

const isRoot = process.getuid?.() === 0;

/** PostgreSQL refuses to run as root; tests often run as root (CI containers), so drop to the postgres user. */
function asServerUser(cmd: string[]): string[] {
  return isRoot ? ["runuser", "-u", "postgres", "--", ...cmd] : cmd;
}

async function run(cmd: string[], timeoutMs: number): Promise<string> {
  const proc = Bun.spawn(cmd, { stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  const output = `${out}${err}`.trim();
  if (code !== 0) {
    const why = proc.signalCode === "SIGKILL" ? `timed out after ${timeoutMs} ms` : `exited with ${code}`;
    throw new Error(`${cmd.join(" ")} ${why}:\n${output}`);
  }
  return output;
}

/** Newest installed server's bin dir (Debian layout), or null. */
function findBinDir(): string | null {
  const root = "/usr/lib/postgresql";
  if (!existsSync(root)) return null;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, "bin", "postgres")) && existsSync(join(root, v, "bin", "initdb")))
    .sort((a, b) => Number.parseFloat(b) - Number.parseFloat(a));
  return versions[0] === undefined ? null : join(root, versions[0], "bin");
}

/** The server's bin dir, installing the Debian package on first use when none is there (CI images start without it). */
function binDir(): Promise<string> {
  return ensureInstalled({
    pkg: "postgresql",
    // Without root apt-get cannot install it: say so at once.
    find: () => {
      const found = findBinDir();
      if (!found && !isRoot) throw new Error("PostgreSQL is not installed under /usr/lib/postgresql: run `apt-get install postgresql` as root");
      return found;
    },
    // Installing may also start the distribution's own cluster on 5432: harmless, it is not used.
    notFound: "apt-get installed postgresql, yet no server is under /usr/lib/postgresql/*/bin",
    timeoutMs: INSTALL_TIMEOUT_MS,
  });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

interface RunningServer {
  port: number;
  stop(): Promise<void>;
}

/**
 * As production runs it (infra/production/postgresql.md): TCP only with TLS and only for role
 * `msgr` with a scram-sha-256 password; the superuser only over the Unix socket in the server's
 * private directory.
 */
export interface PostgresSecurity {
  cert: TestCert;
  /** msgr's password (postgres.passwordFile). */
  passwordFile: string;
}

/** How the launcher itself reaches the server as the superuser: TCP with trust, or (secure) the private socket. */
const adminTarget = (dir: string, secure: boolean) => (secure ? { host: dir } : { host: "127.0.0.1" });

/** Starts the server on `port` and resolves once it accepts queries; rejects with its log otherwise. */
async function startServer(bin: string, dir: string, port: number, secure: boolean): Promise<RunningServer> {
  const data = join(dir, "data");
  const proc = spawnEngine(
    asServerUser([
      // runuser forks the server and stays as its parent, so the shield's pdeathsig reaches
      // runuser only: without one of its own, the server outlived a test process that died.
      "setpriv", "--pdeathsig", "KILL", "--",
      join(bin, "postgres"),
      "-D", data,
      "-p", String(port),
      "-k", dir,
      "-c", "listen_addresses=127.0.0.1",
      // Tests only: a crash loses nothing that matters, and skipping fsync makes commits, and
      // CREATE DATABASE, far cheaper. Never in production.
      "-c", "fsync=off",
      ...(secure ? ["-c", "ssl=on", "-c", "ssl_cert_file=server.crt", "-c", "ssl_key_file=server.key", "-c", "password_encryption=scram-sha-256"] : []),
    ]),
  );
  let log = "";
  const collect = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) log = (log + decoder.decode(chunk, { stream: true })).slice(-LOG_LIMIT);
  };
  const collected = Promise.all([collect(proc.stdout), collect(proc.stderr)]);
  let exited = false;
  void proc.exited.then(() => (exited = true));

  // runuser forks and stays as the parent, so signal the postmaster itself: SIGINT is its fast
  // shutdown (ends sessions, no waiting for clients), and the runuser wrapper exits with it.
  const postmasterPid = (): number | null => {
    try {
      const pid = Number.parseInt(readFileSync(join(data, "postmaster.pid"), "utf8"), 10);
      return Number.isInteger(pid) && pid > 0 ? pid : null;
    } catch {
      return null;
    }
  };
  const signal = (sig: NodeJS.Signals) => {
    const pid = postmasterPid();
    try {
      if (pid !== null) process.kill(pid, sig);
      else proc.kill(sig);
    } catch {
      // Already gone.
    }
  };
  // If the test process exits without stop() (a crash, an interrupted run), take the server down
  // with it rather than leave it running (SIGQUIT is the immediate shutdown), and its files too.
  const onExit = () => {
    const pid = postmasterPid();
    signal("SIGQUIT");
    // Exit hooks run synchronously: wait (briefly) for it to be gone before deleting its files.
    for (let i = 0; pid !== null && i < 300 && isAlive(pid); i++) Bun.sleepSync(10);
    rmSync(dir, { recursive: true, force: true });
  };
  process.on("exit", onExit);

  const stop = async () => {
    process.off("exit", onExit);
    if (!exited) {
      signal("SIGINT");
      const timer = setTimeout(() => {
        signal("SIGKILL");
        proc.kill("SIGKILL");
      }, STOP_TIMEOUT_MS);
      await proc.exited;
      clearTimeout(timer);
    }
    await collected;
  };

  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    const probe = postgres({ ...adminTarget(dir, secure), port, user: "postgres", database: "postgres", max: 1, connect_timeout: 2, onnotice: () => {} });
    try {
      await probe`SELECT 1`;
      return { port, stop };
    } catch (err) {
      if (exited || Date.now() > deadline) {
        await stop();
        const why = exited ? `exited with ${proc.exitCode}` : `did not accept connections within ${READY_TIMEOUT_MS} ms (last error: ${String(err)})`;
        throw new ServerStartError(`postgres on port ${port} ${why}; server log:\n${log}`, /could not bind|Address already in use/i.test(log));
      }
    } finally {
      await probe.end({ timeout: 0 });
    }
    await sleep(100);
  }
}

class ServerStartError extends Error {
  constructor(
    message: string,
    readonly portTaken: boolean,
  ) {
    super(message);
  }
}

let suites = 0;

export async function startPostgres(opts: { secure?: PostgresSecurity } = {}): Promise<PostgresServer> {
  const bin = await binDir();
  const dir = mkdtempSync(join(tmpdir(), "msgr-pg-"));
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  const secure = opts.secure !== undefined;
  try {
    let owner: [number, number] | undefined;
    if (isRoot) {
      const [uid, gid] = await Promise.all([run(["id", "-u", "postgres"], 5000), run(["id", "-g", "postgres"], 5000)]);
      owner = [Number(uid), Number(gid)];
      chownSync(dir, ...owner);
    }
    // Trust auth on a loopback-only test server; C locale so that sorting does not depend on the host.
    await run(asServerUser([join(bin, "initdb"), "-D", join(dir, "data"), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync"]), 60_000);
    if (opts.secure) {
      const data = join(dir, "data");
      // No "host" lines: a connection without TLS matches nothing and is refused.
      writeFileSync(join(data, "pg_hba.conf"), "local all postgres trust\nhostssl all msgr 127.0.0.1/32 scram-sha-256\n");
      // PostgreSQL reads its key only if it owns it and no one else may read it.
      for (const [src, name] of [[opts.secure.cert.certFile, "server.crt"], [opts.secure.cert.keyFile, "server.key"]] as const) {
        copyFileSync(src, join(data, name));
        chmodSync(join(data, name), 0o600);
        if (owner) chownSync(join(data, name), ...owner);
      }
    }

    let server: RunningServer | undefined;
    for (let attempt = 1; !server; attempt++) {
      try {
        server = await startServer(bin, dir, await freePort(), secure);
      } catch (err) {
        if (!(err instanceof ServerStartError && err.portTaken && attempt < START_ATTEMPTS)) throw err;
      }
    }

    const running = server;
    const createDatabase = async (): Promise<string> => {
      const database = `msgr_test_${process.pid}_${++suites}`;
      const admin = postgres({ ...adminTarget(dir, secure), port: running.port, user: "postgres", database: "postgres", max: 1, onnotice: () => {} });
      try {
        await admin.unsafe(`CREATE DATABASE ${database}${secure ? " OWNER msgr" : ""}`);
      } finally {
        await admin.end();
      }
      return `postgres://${secure ? "msgr" : "postgres"}@127.0.0.1:${running.port}/${database}`;
    };
    let url: string;
    try {
      if (opts.secure) {
        const password = readFileSync(opts.secure.passwordFile, "utf8").replace(/\r?\n$/, "");
        const admin = postgres({ ...adminTarget(dir, secure), port: running.port, user: "postgres", database: "postgres", max: 1, onnotice: () => {} });
        try {
          await admin.unsafe(`CREATE ROLE msgr LOGIN PASSWORD '${password.replaceAll("'", "''")}'`);
        } finally {
          await admin.end();
        }
      }
      url = await createDatabase();
    } catch (err) {
      await running.stop();
      throw err;
    }

    let stopped: Promise<void> | undefined;
    return {
      url,
      newDatabase: createDatabase,
      stop: () => (stopped ??= running.stop().finally(cleanup)),
    };
  } catch (err) {
    cleanup();
    throw err;
  }
}
