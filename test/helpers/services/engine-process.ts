// An engine (a database, a broker, a msgr server) run as a child process for the tests and the bench, shielded
// from bun test's auto-killer: on a test timeout, and in bun 1.3 sometimes on a stale timer with
// none (oven-sh/bun#38774, #39657), bun test SIGTERMs every process the file spawned, including
// the engines of its beforeAll that later tests still use. Their failures then looked like
// defects of the code under test (a JetStream failover test saw no acks; a run hung until CI's
// limit). So the process bun tracks is engine-shield.sh, which ignores SIGTERM; the engine is its
// child, signalled here at its own pid, and dies with it (as the shield dies with this process).

import { spawn, type Subprocess } from "bun";
import { readFileSync } from "node:fs";
import { constants } from "node:os";
import { join } from "node:path";

const SHIELD = join(import.meta.dir, "engine-shield.sh");

export interface EngineProcess {
  /** The engine's output. Keep reading both: a full pipe blocks its logging. */
  readonly stdout: ReadableStream<Uint8Array>;
  readonly stderr: ReadableStream<Uint8Array>;
  /** Resolves with the engine's exit status (128 + n when signal n ended it) once it has exited. */
  readonly exited: Promise<number>;
  /** Null while the engine runs. */
  readonly exitCode: number | null;
  /** The signal that ended the engine (from its status, 128 + n), null while it runs or when it exited. */
  readonly signalCode: NodeJS.Signals | null;
  /** The engine's own pid (for CPU accounting and signals); undefined before it is forked or after it exited. */
  readonly pid: number | undefined;
  /** Signals the engine itself; `exited` tells when it is gone. */
  kill(signal: NodeJS.Signals | number): void;
}

export function spawnEngine(cmd: string[], opts: { env?: Record<string, string | undefined>; cwd?: string } = {}): EngineProcess {
  // pdeathsig on the shield too: a SIGKILLed test run takes its engines down with it.
  const proc: Subprocess<"ignore", "pipe", "pipe"> = spawn(["setpriv", "--pdeathsig", "KILL", "--", "bash", SHIELD, ...cmd], {
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    env: opts.env ?? process.env,
    cwd: opts.cwd,
  });
  let enginePid: number | undefined;
  const engine = (): number | undefined => {
    if (proc.exitCode !== null) return undefined;
    if (enginePid === undefined) {
      try {
        const child = Number.parseInt(readFileSync(`/proc/${proc.pid}/task/${proc.pid}/children`, "utf8"), 10);
        if (child > 0) enginePid = child;
      } catch {
        // Exited meanwhile.
      }
    }
    return enginePid;
  };
  return {
    stdout: proc.stdout,
    stderr: proc.stderr,
    exited: proc.exited,
    get exitCode() {
      return proc.exitCode;
    },
    get signalCode() {
      const status = proc.exitCode;
      if (status === null || status <= 128) return null;
      return (Object.entries(constants.signals).find(([, n]) => n === status - 128)?.[0] as NodeJS.Signals | undefined) ?? null;
    },
    get pid() {
      return engine();
    },
    kill(signal) {
      const pid = engine();
      try {
        if (pid !== undefined) process.kill(pid, signal);
        // Not forked yet: the shield's death stops it (it execs under pdeathsig).
        else if (proc.exitCode === null) proc.kill("SIGKILL");
      } catch {
        // Already gone.
      }
    },
  };
}
