// msgr itself: `bun src/cli/main.ts start`, one edge process per instance with its own data
// directory, all verifying tokens with one shared key (MSGR_AUTH_KEYS_FILE) so a generator can
// mint a token that any edge accepts. msgrServer() also runs the server of another revision's
// tree (revision.ts: the `msgr@REV` target), measured beside this one.

import { join } from "node:path";
import { ensureEmbeddedKeyring } from "../../src/auth/keyring.ts";
import { unlimitedEnv } from "../../test/helpers/limits.ts";
import { startInstances } from "./instances.ts";
import type { Target } from "./types.ts";

const ROOT = new URL("../..", import.meta.url).pathname;

/** MSGR_BENCH_CPU_PROFILE=<dir>: each msgr server writes a CPU profile there (Markdown) when it stops. */
function profileArgs(): string[] {
  const dir = process.env.MSGR_BENCH_CPU_PROFILE;
  return dir ? ["--cpu-prof-md", `--cpu-prof-dir=${dir}`] : [];
}

/** msgr's server from the source tree at `root`, as target `name`. */
export function msgrServer(name: string, root: string): Target {
  return {
    name,
    perMessage:
      "authenticated device session; SEND decoded, validated and stored in SQLite (group commit, synchronous=normal) under a per-conversation seq; durable ack to the sender; MESSAGE pushed to the recipient with exactly-once, in-order tracking; the recipient's delivered RECEIPT stored and relayed to the sender",
    unavailable: () => null,
    async start(opts) {
      const keysFile = await ensureEmbeddedKeyring(join(opts.workDir, "keys"));
      return startInstances(
        opts,
        (host, port, i) => ({
          cmd: [process.execPath, ...profileArgs(), "src/cli/main.ts", "start"],
          cwd: root,
          env: {
            MSGR_SERVER_HOST: host,
            MSGR_SERVER_PORT: String(port),
            MSGR_SERVER_NODE_ID: String(i),
            MSGR_SERVER_DATA_DIR: join(opts.workDir, `edge-${i}`),
            MSGR_AUTH_KEYS_FILE: keysFile,
            MSGR_LOG_LEVEL: "warn",
            MSGR_STORAGE_SYNCHRONOUS: "normal",
            ...unlimitedEnv(),
            MSGR_HEARTBEAT_INTERVAL_MS: String(opts.heartbeatMs),
            MSGR_HEARTBEAT_TIMEOUT_MS: String(opts.heartbeatMs * 3),
          },
          url: `ws://${host}:${port}/v1/ws`,
        }),
        (endpoints) => ({ name, protocol: "msgr", endpoints, keysFile, heartbeatMs: opts.heartbeatMs }),
      );
    },
  };
}

export const msgr = msgrServer("msgr", ROOT);
