// Runs the real server as a child process (`msgr start`), so tests can SIGKILL and SIGTERM it.

import { resolveConfig } from "../../src/config/config.ts";
import { mintToken } from "./harness.ts";
import { freePort } from "./services/common.ts";
import { spawnEngine, type EngineProcess } from "./services/engine-process.ts";

export interface ChildServer {
  proc: EngineProcess;
  wsUrl: string;
  httpUrl: string;
  /** Where its /metrics is served (its own listener with metrics.listen, else the edge's port). */
  metricsUrl: string;
  /** Everything the process logged on stdout so far. */
  output(): string;
  exited: Promise<number>;
}

const ROOT = new URL("../..", import.meta.url).pathname;

/** Starts `bun src/cli/main.ts start` with the given MSGR_* environment; resolves once it listens. */
export async function startChild(env: Record<string, string>): Promise<ChildServer> {
  // https:// and wss:// when the edge serves TLS (server.tlsCertFile).
  const { proc, output, matched } = await startCommand("start", env, /"url":"(https?:\/\/[^"]+)"/);
  const metricsUrl = /"metrics":"(https?:\/\/[^"]+)"/.exec(output())?.[1] ?? `${matched}/metrics`;
  return { proc, httpUrl: matched, wsUrl: matched.replace(/^http/, "ws") + "/v1/ws", metricsUrl, output, exited: proc.exited };
}

export interface ChildWorker {
  proc: EngineProcess;
  /** Where its /metrics is served (on a port the system picked). */
  metricsUrl: string;
  output(): string;
  exited: Promise<number>;
}

/** Starts a write-behind worker (`bun src/cli/main.ts worker`); resolves once it consumes the log and serves /metrics. */
export async function startWorkerChild(env: Record<string, string>): Promise<ChildWorker> {
  // worker.metricsPort 0 turns /metrics off: give it a free port instead.
  const { proc, output, matched } = await startCommand("worker", { MSGR_WORKER_METRICS_PORT: String(await freePort()), ...env }, /write-behind worker started[^]*"url":"(http:\/\/[^"]+\/metrics)"/);
  return { proc, metricsUrl: matched, output, exited: proc.exited };
}

/** Output kept per child once it is up (a long run logs much more than a failure needs). */
const OUTPUT_LIMIT = 256 * 1024;

/** Children still running when this process exits (a crash, an interrupted run) go down with it. */
const running = new Set<EngineProcess>();
process.on("exit", () => {
  for (const p of running) {
    try {
      p.kill("SIGKILL");
    } catch {
      // Already gone.
    }
  }
});

/** Spawns a msgr command; resolves once its stdout matches `ready` (with the first group, if any). */
async function startCommand(command: string, env: Record<string, string>, ready: RegExp) {
  // Shielded like an engine: one started in beforeAll must outlive bun test's auto-killer.
  const proc = spawnEngine([process.execPath, "src/cli/main.ts", command], {
    cwd: ROOT,
    env: { ...process.env, MSGR_SERVER_PORT: "0", MSGR_LOG_LEVEL: "info", ...env },
  });
  running.add(proc);
  void proc.exited.then(() => running.delete(proc));
  let out = "";
  let up = false;
  const decoder = new TextDecoder();
  const keep = (chunk: Uint8Array) => {
    out += decoder.decode(chunk);
    if (up && out.length > OUTPUT_LIMIT) out = out.slice(-OUTPUT_LIMIT / 2);
  };
  const matched = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      // Not left running behind the failed test.
      proc.kill("SIGKILL");
      reject(new Error(`msgr ${command} did not start:\n${out}`));
      // Generous: the first edge of a cluster applies the migrations and creates the Cassandra
      // tables, which takes long on a loaded machine; a start that fails says so at once instead.
    }, 90_000);
    void (async () => {
      for await (const chunk of proc.stdout) {
        keep(chunk);
        const m = up ? null : ready.exec(out);
        if (m) {
          up = true;
          clearTimeout(timer);
          resolve(m[1] ?? m[0]);
        }
      }
    })();
    // Errors before the logger exists (a bad config, a refused connection) go to stderr.
    void (async () => {
      for await (const chunk of proc.stderr) keep(chunk);
    })();
    void proc.exited.then((code) => reject(new Error(`msgr ${command} exited with ${code} before it was ready:\n${out}`)));
  });
  return { proc, output: () => out, matched };
}

export function childToken(dataDir: string, user: string, device: string): Promise<string> {
  return mintToken(resolveConfig({ server: { dataDir } }, {}), user, device);
}
