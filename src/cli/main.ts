#!/usr/bin/env bun
// msgr command line: start the server, mint tokens for it, revoke devices, chat.
// Each command declares its options and help here; `msgr CMD --help` prints them.

import { parseArgs, type ParseArgsConfig } from "node:util";
import { join, resolve } from "node:path";
import type { Logger } from "pino";
import { ConfigError, devSignInEnabled, environmentVariables, loadConfig, webAppEnabled, type Config } from "../config/config.ts";
import { localSigningKey, mintWith, UsageError } from "./signing-key.ts";

type Options = NonNullable<ParseArgsConfig["options"]>;
type Values = Record<string, string | boolean | undefined>;

interface Command {
  /** `token --user ID ...`: the synopsis after `msgr`. */
  synopsis: string;
  summary: string;
  /** Further lines of `msgr CMD --help`. */
  details?: string;
  options: Options;
  /** Help text of each option, by name. */
  optionHelp: Record<string, string>;
  /** Loads the configuration first (every command but `env`). */
  config?: false;
  run(values: Values, config: Config): Promise<void>;
}

const CONFIG_OPTION: Options = { config: { type: "string" } };
const CONFIG_HELP = { config: "TOML configuration file (default: $MSGR_CONFIG; MSGR_* variables override it)" };

const str = (v: Values, k: string) => (typeof v[k] === "string" ? (v[k] as string) : undefined);

function required(v: Values, name: string, cmd: string): string {
  const s = str(v, name);
  if (!s) throw new UsageError(`${cmd} needs --${name} (see msgr ${cmd} --help)`);
  return s;
}

const COMMANDS: Record<string, Command> = {
  start: {
    synopsis: "start [--config FILE]",
    summary: "run an edge node (embedded backends by default: data in ./data, 127.0.0.1:8787)",
    options: CONFIG_OPTION,
    optionHelp: CONFIG_HELP,
    async run(_v, config) {
      // The server's modules load only for the commands that run it: help and tokens stay quick.
      const { createLogger, startServer } = await import("../server.ts");
      const log = createLogger(config);
      // A failed background task (a store briefly unreachable) is logged; it must not take every
      // connection down with the process.
      process.on("unhandledRejection", (err) => log.error({ err }, "unhandled rejection"));
      // Signals are handled from the start: one that arrives while the server is starting stops
      // it once started, instead of killing it half-way.
      const starting = startServer(config, { log });
      stopOnSignals(log, "shutting down", async () => (await starting).stop());
      const server = await starting;
      console.error(`msgr listening on ${server.wsUrl} (data in ${resolve(config.server.dataDir)})`);
      if (webAppEnabled(config)) {
        const signIn = devSignInEnabled(config) ? " (development sign-in: any user name, no password)" : "";
        console.error(`web app: ${server.httpUrl}${config.web.path}/${signIn}`);
      }
      console.error(`terminal client: npx msgr chat --user alice   (and in another terminal: --user bob)`);
    },
  },
  worker: {
    synopsis: "worker [--config FILE]",
    summary: "run a write-behind worker: message log -> Cassandra/ScyllaDB",
    details: 'Needs backends.messages = "jetstream" (there is no log to drain otherwise).',
    options: CONFIG_OPTION,
    optionHelp: CONFIG_HELP,
    async run(_v, config) {
      if (config.backends.messages !== "jetstream") throw new UsageError('worker needs backends.messages = "jetstream" (there is no log to drain otherwise)');
      const { createLogger } = await import("../server.ts");
      const log = createLogger(config);
      const { startWorker } = await import("../worker/run.ts");
      const worker = await startWorker(config, log);
      stopOnSignals(log, "worker stopping: finishing the batch in hand", () => worker.stop());
    },
  },
  token: {
    synopsis: "token --user ID --device ID [--ttl SECONDS] [--admin] [--config FILE]",
    summary: "print an access token signed with the server's key",
    details:
      "The key is the server's: auth.keysFile, or <server.dataDir>/jwks.json (default ./data/jwks.json),\n" +
      "which `msgr start` creates. Run it where the server runs, or set MSGR_SERVER_DATA_DIR; it never\n" +
      "makes a key of its own. The key file used is named on stderr; the token alone goes to stdout.",
    options: { ...CONFIG_OPTION, user: { type: "string" }, device: { type: "string" }, ttl: { type: "string" }, admin: { type: "boolean" } },
    optionHelp: { user: "user id (the token's sub)", device: "device id (the token's dev)", ttl: "lifetime in seconds (default 86400)", admin: "add scope=admin (for POST /v1/admin/revoke)", ...CONFIG_HELP },
    async run(v, config) {
      const user = required(v, "user", "token");
      const device = required(v, "device", "token");
      const ttl = Number(str(v, "ttl") ?? 86_400);
      if (!Number.isInteger(ttl) || ttl <= 0) throw new UsageError("--ttl must be a positive number of seconds");
      const key = await localSigningKey(config);
      console.error(`msgr: signed with key ${key.kid} from ${key.file}`);
      console.log(await mintWith(key, config, user, device, ttl, v.admin === true));
    },
  },
  revoke: {
    synopsis: "revoke --user ID --device ID [--url URL] [--config FILE]",
    summary: "disconnect a device now and refuse it from then on",
    details: "Mints a short admin token with the server's key (as `token` does) and calls POST /v1/admin/revoke.",
    options: { ...CONFIG_OPTION, user: { type: "string" }, device: { type: "string" }, url: { type: "string" } },
    optionHelp: { user: "user id", device: "device id to revoke", url: "the server's HTTP URL (default http://server.host:server.port)", ...CONFIG_HELP },
    async run(v, config) {
      const user = required(v, "user", "revoke");
      const device = required(v, "device", "revoke");
      const { callServer, serverUrl } = await import("./admin-call.ts");
      const admin = await mintWith(await localSigningKey(config), config, "admin", "cli", 60, true);
      const res = await callServer(`${serverUrl(config, str(v, "url"))}/v1/admin/revoke`, {
        method: "POST",
        headers: { authorization: `Bearer ${admin}`, "content-type": "application/json" },
        body: JSON.stringify({ user, device }),
      });
      const body = await res.text();
      if (!res.ok) throw new Error(`revoke failed (${res.status}): ${body}`);
      console.log(body);
    },
  },
  admin: {
    synopsis: "admin <subcommand> [options]",
    summary: "the admin and moderation API: users, bans, devices, conversations, removing messages and members, reports, audit log",
    details: "msgr admin --help lists the subcommands and their options.",
    options: {},
    optionHelp: {},
    config: false,
    // main() hands `admin` to src/cli/admin.ts before options are parsed; this entry lists it.
    async run() {},
  },
  chat: {
    synopsis: "chat --user ID [--device ID] [--url WS_URL] [--config FILE]",
    summary: "terminal client (mints its own tokens with the server's key, as `token` does)",
    details:
      "The device id is kept per data directory and user (<server.dataDir>/cli-devices.json), so a\n" +
      "restarted client resumes as the same device, with its end-to-end encryption keys and groups\n" +
      "(<server.dataDir>/cli-mls/, private to the device). New conversations are end-to-end encrypted\n" +
      "(MLS, a 🔒 by their name) when every member uses an encrypting client; /safety shows safety\n" +
      "numbers to compare. Type /help inside for the commands.",
    options: { ...CONFIG_OPTION, user: { type: "string" }, device: { type: "string" }, url: { type: "string" } },
    optionHelp: { user: "user id to chat as", device: "device id (default: this data directory's stored one for the user)", url: "WebSocket URL (default ws://server.host:server.port/v1/ws)", ...CONFIG_HELP },
    async run(v, config) {
      const user = required(v, "user", "chat");
      const key = await localSigningKey(config);
      const { stableDeviceId } = await import("./device-id.ts");
      const device = str(v, "device") ?? stableDeviceId(config.server.dataDir, user);
      const url = str(v, "url") ?? `${config.server.tlsCertFile ? "wss" : "ws"}://${config.server.host}:${config.server.port}/v1/ws`;
      const { runChat } = await import("./chat.ts");
      // The device's MLS secrets, beside its id, in a directory of its own.
      const mlsDir = join(config.server.dataDir, "cli-mls", `u-${user}`, `d-${device}`);
      await runChat({ url, user, device, keyFile: key.file, mlsDir, token: () => mintWith(key, config, user, device, 3600) });
    },
  },
  migrate: {
    synopsis: "migrate [--config FILE]",
    summary: "apply schema migrations for the configured backends",
    options: CONFIG_OPTION,
    optionHelp: CONFIG_HELP,
    async run(_v, config) {
      // Opening a backend applies its pending migrations; this does it without serving.
      const { openStores } = await import("../backends.ts");
      const { createLogger } = await import("../server.ts");
      await (await openStores(config, createLogger(config))).close();
      console.log(`migrations applied (metadata: ${config.backends.metadata}, messages: ${config.backends.messages})`);
    },
  },
  backup: {
    synopsis: "backup --out DIR [--config FILE]",
    summary: "online backup of the embedded data (SQLite, keys, media) while the server runs",
    details: "DIR (new or empty) becomes a data directory: to restore, start a server with server.dataDir set to it.",
    options: { ...CONFIG_OPTION, out: { type: "string" } },
    optionHelp: { out: "the backup's directory (new or empty)", ...CONFIG_HELP },
    async run(v, config) {
      const out = required(v, "out", "backup");
      const { backupEmbedded } = await import("./backup.ts");
      const b = backupEmbedded(config, out);
      console.log(`backed up ${b.messages} messages in ${b.conversations} conversations (${b.databaseBytes} bytes) and ${b.files.join(", ") || "no other files"} to ${b.dir}`);
      console.log(`restore: stop the server, set server.dataDir = "${b.dir}" (or copy the directory's contents into an empty data directory), start it`);
    },
  },
  "nats-auth": {
    synopsis: "nats-auth --out DIR [--config FILE]",
    summary: "create the edge and worker NATS nkeys (once) and their users and permissions",
    details:
      "Writes DIR/edge.nk and DIR/worker.nk (mode 0600; kept when present) and DIR/msgr-accounts.conf,\n" +
      "the NATS users of both roles with their subject permissions: include it in every nats-server config.",
    options: { ...CONFIG_OPTION, out: { type: "string" } },
    optionHelp: { out: "directory for the nkeys and msgr-accounts.conf", ...CONFIG_HELP },
    async run(v, config) {
      const out = required(v, "out", "nats-auth");
      const { ensureNatsIdentities, writeNatsAccounts } = await import("./nats-auth.ts");
      const ids = await ensureNatsIdentities(out);
      const conf = await writeNatsAccounts(out, { stream: config.jetstream.stream, shards: config.jetstream.shards, consumer: config.worker.consumer }, ids);
      console.log(`edge nkey:   ${ids.edge.seedFile} (${ids.edge.publicKey})`);
      console.log(`worker nkey: ${ids.worker.seedFile} (${ids.worker.publicKey})`);
      console.log(`NATS users:  ${conf} (include it in every nats-server config)`);
    },
  },
  "cluster-secrets": {
    synopsis: "cluster-secrets --dir DIR",
    summary: "create the key files every edge of a cluster shares (once): token keys, media URL key, VAPID keys",
    details:
      "Writes DIR/jwks.json (an HS256 token key), DIR/media.key (the local media store's URL-signing key)\n" +
      "and DIR/vapid.json (the Web Push key pair), mode 0600, each only when it is not there yet, and\n" +
      "prints the settings that name them. Copy them to every edge machine (or load them as systemd\n" +
      "credentials); an edge in cluster mode refuses to start with a key of its own.",
    options: { dir: { type: "string" } },
    optionHelp: { dir: "directory for the key files (created if missing)" },
    config: false,
    async run(v) {
      const dir = resolve(required(v, "dir", "cluster-secrets"));
      const { writeClusterSecrets } = await import("./cluster-secrets.ts");
      const files = await writeClusterSecrets(dir);
      console.log(`auth.keysFile = "${files.keys}"`);
      console.log(`media.signingKeyFile = "${files.mediaKey}"   # with media.store = "local" and a shared media.localDir`);
      console.log(`push.vapidKeysFile = "${files.vapid}"`);
    },
  },
  env: {
    synopsis: "env",
    summary: "list the environment variables the configuration reads",
    options: {},
    optionHelp: {},
    config: false,
    async run() {
      console.log(environmentVariables().join("\n"));
    },
  },
};

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  return [
    "usage: msgr <command> [options]      (msgr <command> --help for its options)",
    "",
    "commands:",
    ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`),
    "",
    "The config file is TOML (see msgr.example.toml); every key can be overridden with MSGR_* variables (msgr env).",
  ].join("\n");
}

function commandHelp(c: Command): string {
  const opts = Object.keys(c.options);
  const width = Math.max(0, ...opts.map((o) => o.length + (c.options[o]!.type === "string" ? 6 : 0)));
  const lines = [`usage: msgr ${c.synopsis}`, "", c.summary];
  if (c.details) lines.push("", c.details);
  if (opts.length > 0) {
    lines.push("", "options:");
    for (const o of opts) lines.push(`  --${(o + (c.options[o]!.type === "string" ? " VALUE" : "")).padEnd(width)}  ${c.optionHelp[o] ?? ""}`);
  }
  lines.push(`  --${"help".padEnd(width)}  this text`);
  return lines.join("\n");
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
  const [name, ...rest] = argv;
  if (name === undefined || name === "help" || name === "--help" || name === "-h") {
    const topic = name === "help" && rest[0] ? COMMANDS[rest[0]] : undefined;
    console.log(topic ? commandHelp(topic) : usage());
    return;
  }
  // Subcommands with options of their own.
  if (name === "admin") return (await import("./admin.ts")).runAdmin(rest, async (config, user, device, ttl, admin) => mintWith(await localSigningKey(config), config, user, device, ttl, admin));
  const command = COMMANDS[name];
  if (!command) throw new UsageError(`unknown command "${name}"\n\n${usage()}`);
  if (rest.includes("--help") || rest.includes("-h")) {
    console.log(commandHelp(command));
    return;
  }
  let values: Values;
  try {
    values = parseArgs({ args: rest, options: command.options, allowPositionals: false, strict: true }).values as Values;
  } catch (e) {
    throw new UsageError(`${name}: ${(e as Error).message.split("\n")[0]} (see msgr ${name} --help)`);
  }
  let config: Config | undefined;
  if (command.config !== false) {
    try {
      config = loadConfig(str(values, "config") ?? process.env.MSGR_CONFIG);
    } catch (e) {
      if (e instanceof ConfigError) throw new UsageError(e.message);
      throw e;
    }
  }
  await command.run(values, config!);
}

if (import.meta.main) {
  main(process.argv.slice(2)).catch((e) => {
    console.error(`msgr: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(e instanceof UsageError ? 2 : 1);
  });
}
