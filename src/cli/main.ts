#!/usr/bin/env bun
// msgr command line: start the server, mint tokens for it, revoke devices, chat.

import { parseArgs } from "node:util";
import { join } from "node:path";
import { ensureEmbeddedKeyring, loadSigningKey } from "../auth/keyring.ts";
import { mintAccessToken } from "../auth/tokens.ts";
import { ConfigError, environmentVariables, loadConfig, type Config } from "../config/config.ts";
import type { Logger } from "pino";
import { createLogger, startServer } from "../server.ts";

const USAGE = `usage: msgr <command> [options]

commands:
  start   [--config FILE]                              run an edge node (embedded backends by default)
  token   --user ID --device ID [--ttl SECONDS] [--admin] [--config FILE]
                                                       print an access token signed with the server's key
  revoke  --user ID --device ID [--url URL] [--config FILE]
                                                       disconnect a device now and refuse it from then on
  admin   <subcommand> [options]                       the admin and moderation API: users, bans, devices, conversations,
                                                       removing messages and members, reports, audit log (msgr admin --help)
  chat    --user ID [--device ID] [--url WS_URL] [--config FILE]
                                                       terminal client (mints its own token from the local key)
  worker  [--config FILE]                              run a write-behind worker: message log -> Cassandra/ScyllaDB
                                                       (backends.messages = "jetstream")
  migrate [--config FILE]                              apply schema migrations for the configured backends
  backup  --out DIR [--config FILE]                    online backup of the embedded data (SQLite, keys, media) while
                                                       the server runs; DIR is a data directory to restore from
  env                                                  list the environment variables the config reads

The config file is TOML (see msgr.example.toml); every key can be overridden with MSGR_* variables.`;

function fail(message: string): never {
  console.error(`msgr: ${message}`);
  process.exit(2);
}

/** Signing key for tokens: the operator's key file, or the embedded one the server generates. */
async function signingKey(config: Config) {
  const file = config.auth.keysFile || (await ensureEmbeddedKeyring(config.server.dataDir));
  return loadSigningKey(file);
}

async function mintFor(config: Config, user: string, device: string, ttlSec: number, admin = false): Promise<string> {
  return mintAccessToken(await signingKey(config), {
    user,
    device,
    ttlSec,
    admin,
    audience: config.auth.audience,
    issuer: config.auth.issuer || undefined,
  });
}

/** SIGTERM or SIGINT runs `stop` (a drain) and exits 0 once it is done; a second signal exits at once. */
function stopOnSignals(log: Logger, message: string, stop: () => Promise<void>): void {
  let signals = 0;
  const onSignal = (signal: string) => {
    if (++signals > 1) process.exit(1);
    log.info({ signal }, message);
    stop().then(() => process.exit(0));
  };
  process.on("SIGTERM", () => onSignal("SIGTERM"));
  process.on("SIGINT", () => onSignal("SIGINT"));
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  // Subcommands with options of their own.
  if (command === "admin") return (await import("./admin.ts")).runAdmin(rest, mintFor);
  const { values } = parseArgs({
    args: rest,
    options: {
      config: { type: "string" },
      user: { type: "string" },
      device: { type: "string" },
      ttl: { type: "string" },
      admin: { type: "boolean" },
      url: { type: "string" },
      out: { type: "string" },
    },
    allowPositionals: false,
  });
  let config: Config;
  try {
    config = loadConfig(values.config ?? process.env.MSGR_CONFIG);
  } catch (e) {
    if (e instanceof ConfigError) fail(e.message);
    throw e;
  }

  switch (command) {
    case "start": {
      const log = createLogger(config);
      // A failed background task (a store briefly unreachable) is logged; it must not take every
      // connection down with the process.
      process.on("unhandledRejection", (err) => log.error({ err }, "unhandled rejection"));
      const server = await startServer(config, { log });
      console.error(`msgr listening on ${server.wsUrl} (data in ${join(config.server.dataDir)})`);
      console.error(`try it: bun src/cli/main.ts chat --user alice   (and in another terminal: --user bob)`);
      stopOnSignals(log, "shutting down", () => server.stop());
      return;
    }
    case "worker": {
      if (config.backends.messages !== "jetstream") fail('worker needs backends.messages = "jetstream" (there is no log to drain otherwise)');
      const log = createLogger(config);
      const { startWorker } = await import("../worker/run.ts");
      const worker = await startWorker(config, log);
      stopOnSignals(log, "worker stopping: finishing the batch in hand", () => worker.stop());
      return;
    }
    case "token": {
      if (!values.user || !values.device) fail("token needs --user and --device");
      const ttl = Number(values.ttl ?? 86_400);
      if (!Number.isInteger(ttl) || ttl <= 0) fail("--ttl must be a positive number of seconds");
      console.log(await mintFor(config, values.user, values.device, ttl, values.admin ?? false));
      return;
    }
    case "revoke": {
      if (!values.user || !values.device) fail("revoke needs --user and --device");
      const url = values.url ?? `http://${config.server.host}:${config.server.port}`;
      const admin = await mintFor(config, "admin", "cli", 60, true);
      const res = await fetch(`${url}/v1/admin/revoke`, {
        method: "POST",
        headers: { authorization: `Bearer ${admin}`, "content-type": "application/json" },
        body: JSON.stringify({ user: values.user, device: values.device }),
      });
      const body = await res.text();
      if (!res.ok) fail(`revoke failed (${res.status}): ${body}`);
      console.log(body);
      return;
    }
    case "chat": {
      if (!values.user) fail("chat needs --user");
      const device = values.device ?? `term-${process.pid}`;
      const url = values.url ?? `ws://${config.server.host}:${config.server.port}/v1/ws`;
      const { runChat } = await import("./chat.ts");
      await runChat({ url, user: values.user, device, token: () => mintFor(config, values.user!, device, 3600) });
      return;
    }
    case "migrate": {
      // Opening a backend applies its pending migrations; this does it without serving.
      const { openStores } = await import("../backends.ts");
      await (await openStores(config, createLogger(config))).close();
      console.log(`migrations applied (metadata: ${config.backends.metadata}, messages: ${config.backends.messages})`);
      return;
    }
    case "backup": {
      if (!values.out) fail("backup needs --out DIR (a new or empty directory)");
      const { backupEmbedded } = await import("./backup.ts");
      const b = backupEmbedded(config, values.out);
      console.log(`backed up ${b.messages} messages in ${b.conversations} conversations (${b.databaseBytes} bytes) and ${b.files.join(", ") || "no other files"} to ${b.dir}`);
      console.log(`restore: stop the server, set server.dataDir = "${b.dir}" (or copy the directory's contents into an empty data directory), start it`);
      return;
    }
    case "env":
      console.log(environmentVariables().join("\n"));
      return;
    default:
      console.error(USAGE);
      process.exit(command ? 2 : 0);
  }
}

if (import.meta.main) {
  main(process.argv.slice(2)).catch((e) => {
    console.error(`msgr: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  });
}
