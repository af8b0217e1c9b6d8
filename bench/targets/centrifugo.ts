// Centrifugo (peer d), built from the Go module proxy into bench/.bin by
// bench/install-centrifugo.sh. Memory engine, one channel per user, client-side publish allowed,
// JWT-authenticated connections, anonymous usage statistics off (the bench never leaves loopback).

import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { startInstances } from "./instances.ts";
import type { Target } from "./types.ts";

const CENTRIFUGO_BIN = new URL("../.bin/centrifugo", import.meta.url).pathname;
/** "Centrifugo v5.4.9 (Go version: …)": which build the report's figures are from. */
const VERSION = existsSync(CENTRIFUGO_BIN) ? execFileSync(CENTRIFUGO_BIN, ["version"], { encoding: "utf8" }).trim() : "";

export const centrifugo: Target = {
  name: "centrifugo",
  perMessage:
    `${VERSION}: JWT-authenticated connection; client publish to the addressee's channel (memory engine, no history), publish reply to the sender, push to the subscriber; no storage, no delivered receipt`,
  unavailable: () => (existsSync(CENTRIFUGO_BIN) ? null : "not installed: run `npm run bench:centrifugo` (needs Go and the Go module proxy)"),
  async start(opts) {
    const hmacSecret = randomBytes(32).toString("hex");
    // Centrifugo counts in whole seconds and needs the pong timeout below the ping interval.
    const pingSec = Math.max(2, Math.round(opts.heartbeatMs / 1000));
    return startInstances(
      opts,
      async (host, port, i) => {
        const config = join(opts.workDir, `centrifugo-${i}.json`);
        await Bun.write(
          config,
          JSON.stringify({
            token_hmac_secret_key: hmacSecret,
            api_key: randomBytes(16).toString("hex"),
            address: host,
            port: String(port),
            engine: "memory",
            log_level: "error",
            usage_stats_disable: true,
            allow_subscribe_for_client: true,
            allow_publish_for_client: true,
            // msgr closes a socket holding more than 4 MiB unread (limits.socketBufferBytes); same here.
            client_queue_max_size: 4 * 1024 * 1024,
            ping_interval: `${pingSec}s`,
            pong_timeout: `${Math.max(1, Math.floor(pingSec / 2))}s`,
          }),
        );
        return { cmd: [CENTRIFUGO_BIN, "--config", config], cwd: opts.workDir, url: `ws://${host}:${port}/connection/websocket` };
      },
      (endpoints) => ({ name: "centrifugo", protocol: "centrifugo", endpoints, hmacSecret, heartbeatMs: opts.heartbeatMs }),
    );
  },
};
