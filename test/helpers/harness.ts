// Test harness: a real server on an ephemeral loopback port with its own data directory, and
// real SDK clients over real WebSockets. No mocks.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { loadSigningKey, ensureEmbeddedKeyring } from "../../src/auth/keyring.ts";
import { mintAccessToken } from "../../src/auth/tokens.ts";
import { resolveConfig, type Config, type DeepPartial } from "../../src/config/config.ts";
import { unlimitedLimits, unlimitedRates } from "./limits.ts";
import { startServer, type RunningServer, type ServerOptions } from "../../src/server.ts";
import { Client, type ClientEvents, type ClientOptions, type WireMessage } from "../../src/sdk/index.ts";

export interface Harness {
  config: Config;
  server: RunningServer;
  dataDir: string;
  token(user: string, device: string, opts?: { ttlSec?: number; admin?: boolean }): Promise<string>;
  /** A connected, synced client. */
  client(user: string, device?: string, opts?: Partial<ClientOptions>): Promise<Client>;
  stop(): Promise<void>;
}

export function testConfig(dataDir: string, overrides: DeepPartial<Config> = {}): Config {
  return resolveConfig(
    {
      ...overrides,
      server: { port: 0, dataDir, ...overrides.server },
      heartbeat: { intervalMs: 1000, timeoutMs: 3000, connectTimeoutMs: 3000, ...overrides.heartbeat },
      storage: { synchronous: "normal", ...overrides.storage },
      // Limits and rates are out of the way unless a test sets them: the security suites test them.
      limits: { ...unlimitedLimits(), ...overrides.limits },
      rates: { ...unlimitedRates(), ...overrides.rates },
      log: { level: "silent", ...overrides.log },
    },
    {},
  );
}

export async function mintToken(config: Config, user: string, device: string, opts: { ttlSec?: number; admin?: boolean } = {}): Promise<string> {
  const key = await loadSigningKey(config.auth.keysFile || (await ensureEmbeddedKeyring(config.server.dataDir)));
  return mintAccessToken(key, { user, device, ttlSec: opts.ttlSec ?? 3600, admin: opts.admin ?? false, audience: config.auth.audience });
}

/**
 * A server in this process. `clock` replaces its clock (tests that move time); `tokenTtlSec`
 * is the lifetime of the tokens h.token mints by default (a test that moves the clock by hours
 * needs tokens, and a heartbeat timeout, that outlive the jump).
 */
export async function startHarness(overrides: DeepPartial<Config> = {}, opts: Omit<ServerOptions, "log"> & { tokenTtlSec?: number } = {}): Promise<Harness> {
  const dataDir = mkdtempSync(join(tmpdir(), "msgr-test-"));
  const config = testConfig(dataDir, overrides);
  const server = await startServer(config, { clock: opts.clock, log: pino({ level: "silent" }) });
  const clients: Client[] = [];
  const h: Harness = {
    config,
    server,
    dataDir,
    token: (user, device, tokenOpts) => mintToken(config, user, device, { ttlSec: opts.tokenTtlSec, ...tokenOpts }),
    async client(user, device = `${user}-phone`, opts = {}) {
      const c = new Client({ url: server.wsUrl, token: await h.token(user, device), minBackoffMs: 50, maxBackoffMs: 500, ...opts });
      clients.push(c);
      const synced = nextEvent(c, "synced");
      await c.connect();
      await synced;
      return c;
    },
    async stop() {
      for (const c of clients) c.close();
      await server.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return h;
}

/** Resolves with the next `event` of `c` that satisfies `pred`; rejects after `ms`. */
export function nextEvent<K extends keyof ClientEvents>(c: Client, event: K, pred: (p: ClientEvents[K]) => boolean = () => true, ms = 10_000): Promise<ClientEvents[K]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`timed out waiting for ${String(event)}`));
    }, ms);
    const off = c.on(event, (p) => {
      if (!pred(p)) return;
      clearTimeout(timer);
      off();
      resolve(p);
    });
  });
}

/** Collects every message event of `c` into an array (per conversation order is the event order). */
export function collect(c: Client): WireMessage[] {
  const out: WireMessage[] = [];
  c.on("message", (m) => out.push(m));
  return out;
}

export { until } from "./wait.ts";

export const text = (m: WireMessage) => new TextDecoder().decode(m.body);
