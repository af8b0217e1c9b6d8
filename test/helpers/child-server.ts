// Runs the real server as a child process (`msgr start`), so tests can SIGKILL and SIGTERM it.

import { spawn, type Subprocess } from "bun";
import { resolveConfig } from "../../src/config/config.ts";
import { mintToken } from "./harness.ts";

export interface ChildServer {
  proc: Subprocess<"ignore", "pipe", "pipe">;
  wsUrl: string;
  httpUrl: string;
  /** Everything the process logged on stdout so far. */
  output(): string;
  exited: Promise<number>;
}

const ROOT = new URL("../..", import.meta.url).pathname;

/** Starts `bun src/cli/main.ts start` with the given MSGR_* environment; resolves once it listens. */
export async function startChild(env: Record<string, string>): Promise<ChildServer> {
  const proc = spawn([process.execPath, "src/cli/main.ts", "start"], {
    cwd: ROOT,
    env: { ...process.env, MSGR_SERVER_PORT: "0", MSGR_LOG_LEVEL: "info", ...env },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  let out = "";
  const decoder = new TextDecoder();
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${out}`)), 20_000);
    void (async () => {
      for await (const chunk of proc.stdout) {
        out += decoder.decode(chunk);
        const m = /"url":"(http:\/\/[^"]+)"/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      }
    })();
    void proc.exited.then((code) => reject(new Error(`server exited with ${code} before listening:\n${out}`)));
  });
  return { proc, httpUrl: url, wsUrl: url.replace("http://", "ws://") + "/v1/ws", output: () => out, exited: proc.exited };
}

export function childToken(dataDir: string, user: string, device: string): Promise<string> {
  return mintToken(resolveConfig({ server: { dataDir } }, {}), user, device);
}
