// Shared by the test service launchers (nats, redis, postgres): a free loopback port, a quiet
// command runner, and installing a missing Debian package with apt-get on first use (CI images
// start without the servers).

import { spawn } from "bun";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { spawnEngine, type EngineProcess } from "./engine-process.ts";

/**
 * A port that was free a moment ago, for a server to listen on. It is picked below the kernel's
 * ephemeral range: a port from that range (what listening on port 0 gives) is also where every
 * outgoing connection takes its local port, so a busy test process could take it for a client
 * connection in the seconds before the server binds it (Cassandra once failed to start so). Ports
 * handed out by this process are never handed out again. The server may still lose the port to
 * another process picking the same one, which is unlikely among twenty thousand.
 */
export async function freePort(host = "127.0.0.1"): Promise<number> {
  const low = ephemeralLow();
  if (low - PICK_FLOOR >= 1_000) {
    for (let attempt = 0; attempt < 100; attempt++) {
      const port = PICK_FLOOR + Math.floor(Math.random() * (low - PICK_FLOOR));
      if (handedOut.has(port)) continue;
      handedOut.add(port);
      if (await canListen(port, host)) return port;
    }
  }
  // No room below the ephemeral range (an unusual ip_local_port_range): let the kernel pick.
  return listenOn(0, host);
}

/** The lowest port a server picked here may have. */
const PICK_FLOOR = 10_000;
const handedOut = new Set<number>();

/** The low end of the kernel's ephemeral port range (Linux: 32768 unless configured). */
function ephemeralLow(): number {
  try {
    const low = Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]);
    return Number.isInteger(low) ? low : 32_768;
  } catch {
    return 32_768;
  }
}

function canListen(port: number, host: string): Promise<boolean> {
  return listenOn(port, host).then(
    () => true,
    () => false,
  );
}

/** Listens on `port` (0: the kernel picks), closes again, and resolves with the port. */
function listenOn(port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(port, host, () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === "object" && addr ? resolve(addr.port) : reject(new Error("no port"))));
    });
  });
}

/** `count` distinct free ports, for a server that listens on several (freePort twice may return the same one). */
export async function freePorts(count: number, host = "127.0.0.1"): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort(host));
  return [...ports];
}

/** Runs `cmd` non-interactively (stdout dropped, stderr passed through); true when it exits 0. Killed after `timeoutMs`, if given. */
export async function runQuiet(cmd: string[], opts: { timeoutMs?: number } = {}): Promise<boolean> {
  const p = spawn(cmd, { stdin: "ignore", stdout: "ignore", stderr: "inherit", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
  const timer = opts.timeoutMs === undefined ? undefined : setTimeout(() => p.kill("SIGKILL"), opts.timeoutMs);
  try {
    return (await p.exited) === 0;
  } finally {
    clearTimeout(timer);
  }
}

export interface InstallSpec {
  /** The Debian package to install. */
  pkg: string;
  /** The program to look for on PATH (plus `searchPath`); defaults to `pkg`. Ignored when `find` is given. */
  binary?: string;
  /** The PATH to search for `binary`; defaults to the process's. */
  searchPath?: string;
  /** How to find what was installed instead of a PATH lookup (e.g. a versioned directory); null when it is not there. */
  find?: () => string | null;
  /** What to tell the user when apt-get fails, e.g. "run `apt-get install X` as root". */
  hint?: string;
  /** The error when apt-get succeeded but `find` still finds nothing; defaults to "apt-get installed PKG but it is not on PATH". */
  notFound?: string;
  /** Kill each apt-get run after this long. */
  timeoutMs?: number;
}

const installs = new Map<string, Promise<string>>();

/**
 * What `spec` finds (by default the binary's path), installing `spec.pkg` with apt-get first when
 * it finds nothing. Memoised per package, so concurrent callers share one install.
 */
export function ensureInstalled(spec: InstallSpec): Promise<string> {
  let installing = installs.get(spec.pkg);
  if (!installing) {
    installing = install(spec);
    installs.set(spec.pkg, installing);
  }
  return installing;
}

async function install(spec: InstallSpec): Promise<string> {
  const { pkg } = spec;
  const binary = spec.binary ?? pkg;
  const find = spec.find ?? (() => Bun.which(binary, spec.searchPath === undefined ? undefined : { PATH: spec.searchPath }));
  const found = find();
  if (found) return found;
  // Wait for the dpkg lock rather than fail: other helpers may be installing at the same time.
  const apt = (...args: string[]) => runQuiet(["apt-get", "-o", "DPkg::Lock::Timeout=300", ...args], { timeoutMs: spec.timeoutMs });
  const aptInstall = () => apt("install", "-y", "--no-install-recommends", pkg);
  if (!(await aptInstall())) {
    // A fresh image has no package lists yet: update only when the install needs it.
    if (!(await apt("update")) || !(await aptInstall())) {
      throw new Error(`${pkg} is not installed and apt-get could not install it: ${spec.hint ?? `run \`apt-get install ${pkg}\` as root`}`);
    }
  }
  const installed = find();
  if (!installed) throw new Error(spec.notFound ?? `apt-get installed ${pkg} but it is not on PATH`);
  return installed;
}

/**
 * A server child process that a test starts, waits for, and kills. Killing is SIGKILL: a
 * restart in a test is a crash, and there is nothing to save on a clean stop.
 */
export function serverProcess(name: string, args: string[], ready: () => Promise<boolean>, timeoutMs = 10_000) {
  let proc: EngineProcess | undefined;
  let log = "";
  return {
    /** Starts the process and resolves once `ready` says so; rejects with the output's tail if it does not. */
    async start(): Promise<void> {
      log = "";
      const p = spawnEngine(args);
      proc = p;
      // Keep reading both pipes: an unread pipe fills up and blocks the server's logging. The
      // tail is kept for the error message when it does not start.
      for (const stream of [p.stdout, p.stderr]) {
        void (async () => {
          for await (const chunk of stream) log = (log + new TextDecoder().decode(chunk)).slice(-8192);
        })();
      }
      const deadline = Date.now() + timeoutMs;
      while (!(await ready())) {
        if (p.exitCode !== null || Date.now() > deadline) {
          p.kill("SIGKILL");
          throw new Error(`${name} did not start (exit ${p.exitCode}):\n${log}`);
        }
        await Bun.sleep(25);
      }
    },
    /** The running process's id, undefined while it is not running. */
    pid(): number | undefined {
      return proc?.pid;
    },
    async kill(): Promise<void> {
      if (!proc) return;
      const p = proc;
      proc = undefined;
      p.kill("SIGKILL");
      await p.exited;
    },
  };
}

const INSTALL_TIMEOUT_MS = 30 * 60_000;
const scriptInstalls = new Map<string, Promise<string>>();

/**
 * What an `infra/services/install-*.sh` script installs (memoised per script). The scripts do
 * nothing when it is already there and otherwise build or download it, minutes the first time;
 * their one line on stdout is the installed path, their progress goes to stderr.
 */
export function installedByScript(script: string): Promise<string> {
  let installing = scriptInstalls.get(script);
  if (!installing) {
    installing = (async () => {
      const p = spawn(["bash", join(import.meta.dir, "../../../infra/services", script)], { stdin: "ignore", stdout: "pipe", stderr: "inherit" });
      const timer = setTimeout(() => p.kill("SIGKILL"), INSTALL_TIMEOUT_MS);
      try {
        const path = (await new Response(p.stdout).text()).trim();
        const code = await p.exited;
        if (code !== 0 || !path) throw new Error(`infra/services/${script} failed (exit ${code}); see its output above`);
        return path;
      } finally {
        clearTimeout(timer);
      }
    })();
    scriptInstalls.set(script, installing);
  }
  return installing;
}
