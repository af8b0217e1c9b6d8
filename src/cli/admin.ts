// `msgr admin <subcommand>`: the admin and moderation API (docs/admin-api.openapi.yaml) from the
// command line. Each subcommand is one route of src/admin/actions.ts, found by its action name;
// the token is an admin token minted with the server's key, like `msgr revoke`.

import { parseArgs } from "node:util";
import { ADMIN_ROUTES } from "../admin/actions.ts";
import { ConfigError, loadConfig, type Config } from "../config/config.ts";
import { callServer, serverUrl } from "./admin-call.ts";

type Mint = (config: Config, user: string, device: string, ttlSec: number, admin: boolean) => Promise<string>;

interface Subcommand {
  action: string;
  /** Options that fill the route's path parameters, by parameter name. */
  path?: Record<string, string>;
  query?: string[];
  /** Options sent as JSON body fields. */
  body?: string[];
  required: string[];
  help: string;
}

const SUBCOMMANDS: Record<string, Subcommand> = {
  users: { action: "users.list", query: ["q", "after", "limit"], required: [], help: "[--q TEXT] [--after ID] [--limit N]   list or search users" },
  provision: { action: "users.create", body: ["user"], required: ["user"], help: "--user ID                             register a user before they connect" },
  user: { action: "users.get", path: { user: "user" }, required: ["user"], help: "--user ID                             one user" },
  devices: { action: "users.devices", path: { user: "user" }, required: ["user"], help: "--user ID                             a user's devices" },
  conversations: { action: "users.conversations", path: { user: "user" }, required: ["user"], help: "--user ID                             a user's conversations" },
  ban: { action: "users.ban", path: { user: "user" }, body: ["reason"], required: ["user"], help: "--user ID [--reason TEXT]             disconnect a user everywhere and refuse them" },
  unban: { action: "users.unban", path: { user: "user" }, required: ["user"], help: "--user ID                             lift a ban" },
  revoke: { action: "devices.revoke", body: ["user", "device"], required: ["user", "device"], help: "--user ID --device ID                 revoke one device" },
  conversation: { action: "conversations.get", path: { conv: "conv" }, required: ["conv"], help: "--conv ID                             a conversation and its members" },
  "remove-message": {
    action: "messages.remove",
    path: { conv: "conv", seq: "seq" },
    body: ["reason"],
    required: ["conv", "seq"],
    help: "--conv ID --seq N [--reason TEXT]     replace a message by a tombstone everywhere",
  },
  "remove-member": { action: "members.remove", path: { conv: "conv", user: "user" }, required: ["conv", "user"], help: "--conv ID --user ID                   remove a member from a group" },
  reports: { action: "reports.list", query: ["before", "limit"], required: [], help: "[--before ID] [--limit N]             user reports, newest first" },
  report: { action: "reports.get", path: { id: "id" }, required: ["id"], help: "--id N                                one report, with the messages it carries" },
  audit: { action: "audit.list", query: ["before", "limit"], required: [], help: "[--before ID] [--limit N]             the audit log, newest first" },
};

export const ADMIN_USAGE = `usage: msgr admin <subcommand> [options] [--url URL] [--config FILE]

Calls the admin API of a running server with an admin token minted from the server's key
(--as USER, default "admin", is the admin named in the audit log). Prints the JSON answer.

subcommands:
${Object.entries(SUBCOMMANDS)
  .map(([name, s]) => `  ${name.padEnd(15)} ${s.help}`)
  .join("\n")}`;

function fail(message: string): never {
  console.error(`msgr admin: ${message}`);
  process.exit(2);
}

export async function runAdmin(argv: string[], mint: Mint): Promise<void> {
  const [name, ...rest] = argv;
  const sub = name ? SUBCOMMANDS[name] : undefined;
  if (!sub) {
    console.error(ADMIN_USAGE);
    process.exit(name && name !== "--help" ? 2 : 0);
  }
  const { values } = parseArgs({
    args: rest,
    options: Object.fromEntries(
      ["config", "url", "as", "user", "device", "conv", "seq", "id", "reason", "q", "after", "before", "limit"].map((o) => [o, { type: "string" as const }]),
    ),
    allowPositionals: false,
  });
  for (const r of sub.required) if (values[r] === undefined) fail(`${name} needs --${r}`);
  let config: Config;
  try {
    config = loadConfig(values.config ?? process.env.MSGR_CONFIG);
  } catch (e) {
    if (e instanceof ConfigError) fail(e.message);
    throw e;
  }
  const route = ADMIN_ROUTES.find((r) => r.action === sub.action)!;
  const path = route.path.replace(/\{(\w+)\}/g, (_m, p: string) => encodeURIComponent(values[sub.path![p]!] as string));
  const url = new URL(path, serverUrl(config, values.url));
  for (const q of sub.query ?? []) if (values[q] !== undefined) url.searchParams.set(q, values[q] as string);
  const body: Record<string, string> = {};
  for (const b of sub.body ?? []) if (values[b] !== undefined) body[b] = values[b] as string;
  const token = await mint(config, (values.as as string | undefined) ?? "admin", "cli", 60, true);
  const res = await callServer(url, {
    method: route.method,
    headers: { authorization: `Bearer ${token}`, ...(route.method === "POST" ? { "content-type": "application/json" } : {}) },
    body: route.method === "POST" ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  let out = text;
  try {
    out = JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    // Not JSON: print it as it came.
  }
  if (!res.ok) {
    console.error(`msgr admin: ${name} failed (${res.status}): ${out}`);
    process.exit(1);
  }
  console.log(out);
}
