// Test helpers for end-to-end encryption: E2eeClients (memory storage unless given) on a harness,
// collecting what each decrypts, and the conditions tests wait on.

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

export async function secure(h: Harness, user: string, device = `${user}-1`, opts: { storage?: MlsStorage; reconcileDelayMs?: number } = {}): Promise<Secure> {
  const storage = opts.storage ?? new MemoryMlsStorage();
  const e = await E2eeClient.create({ url: h.server.wsUrl, token: () => h.token(user, device), minBackoffMs: 50, maxBackoffMs: 500 }, { storage, keyPackages: 6, reconcileDelayMs: opts.reconcileDelayMs ?? 200 });
  const s: Secure = { e, user, device, storage, got: [], alerts: [], errors: [] };
  e.on("message", (m) => s.got.push(m));
  e.on("alert", (a) => s.alerts.push(a.message));
  e.on("error", (err) => s.errors.push(err));
  const synced = nextEvent(e.client, "synced");
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
