// Test helpers for end-to-end encryption: E2eeClients (memory storage unless given) on a harness,
// collecting what each decrypts, and the conditions tests wait on.

import type { CiphersuiteImpl, ClientState } from "ts-mls";
import { E2eeClient, MemoryMlsStorage, type MlsStorage, type SecureMessage } from "../../src/sdk/e2ee.ts";
import { nextEvent, until, type Harness } from "../helpers/harness.ts";

export interface Secure {
  e: E2eeClient;
  user: string;
  device: string;
  storage: MlsStorage;
  /** Every message event, in order. */
  got: SecureMessage[];
  alerts: string[];
  errors: Error[];
}

export interface SecureOptions {
  storage?: MlsStorage;
  reconcileDelayMs?: number;
  beforeConnect?: (e: E2eeClient) => void;
}

/** A connected, synced E2eeClient of a harness's server, its KeyPackages uploaded. */
export function secure(h: Harness, user: string, device = `${user}-1`, opts: SecureOptions = {}): Promise<Secure> {
  return secureAt(h.server.wsUrl, () => h.token(user, device), user, device, opts);
}

/** The same against any server (cluster tests): `url` may name several edges. */
export async function secureAt(url: string | string[], token: () => Promise<string>, user: string, device: string, opts: SecureOptions = {}): Promise<Secure> {
  const storage = opts.storage ?? new MemoryMlsStorage();
  const e = await E2eeClient.create({ url, token, minBackoffMs: 50, maxBackoffMs: 500 }, { storage, keyPackages: 6, reconcileDelayMs: opts.reconcileDelayMs ?? 200 });
  const s: Secure = { e, user, device, storage, got: [], alerts: [], errors: [] };
  e.on("message", (m) => s.got.push(m));
  e.on("alert", (a) => s.alerts.push(a.message));
  e.on("error", (err) => s.errors.push(err));
  opts.beforeConnect?.(e);
  const synced = nextEvent(e.client, "synced", undefined, 30_000);
  await e.connect();
  await synced;
  await e.ready();
  return s;
}

export const texts = (s: Secure, conv: string) => s.got.filter((m) => m.conv === conv && m.encrypted && !m.undecryptable && m.kind === 1).map((m) => new TextDecoder().decode(m.body));

/** Waits until every client holds the conversation's group at the same epoch, at least `min`. */
export async function sameEpoch(clients: Secure[], conv: string, min = 1, ms = 30_000): Promise<number> {
  await until(() => {
    const epochs = clients.map((c) => c.e.epoch(conv));
    return epochs.every((x) => x !== undefined && x >= min && x === epochs[0]);
  }, ms, `every device to reach the same epoch (>= ${min}) of ${conv}`);
  return clients[0]!.e.epoch(conv)!;
}

/** Error replies the server has sent with `code` so far (its metrics count them). */
export async function errorReplies(h: Harness, code: number): Promise<number> {
  const m = await h.embedded.node.ctx.metrics.errors.get();
  return m.values.find((v) => v.labels.code === code)?.value ?? 0;
}

/** The SDK's MLS state of a conversation (tests reach in to try decrypting with it). */
export function stateOf(s: Secure, conv: string): ClientState {
  return (s.e as unknown as { groups: Map<string, { state: ClientState }> }).groups.get(conv)!.state;
}

export function suiteOf(s: Secure): CiphersuiteImpl {
  return (s.e as unknown as { cs: CiphersuiteImpl }).cs;
}
