// The upgrade's verdict comes at once when the stores answer at once (embedded SQLite), so that
// the edge calls server.upgrade in the request's own turn; with stores that answer later
// (PostgreSQL) or a ticket, the same verdicts come as promises.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureEmbeddedKeyring, loadKeyring, loadSigningKey, type SigningKey } from "../../src/auth/keyring.ts";
import { mintAccessToken } from "../../src/auth/tokens.ts";
import { systemClock } from "../../src/clock.ts";
import { authenticateUpgrade, type UpgradeDeps } from "../../src/edge/upgrade-auth.ts";
import { MemoryTicketStore } from "../../src/storage/memory/ticket-store.ts";
import { openSqlite, type SqliteBackend } from "../../src/storage/sqlite/db.ts";
import { testConfig } from "../helpers/harness.ts";

let dataDir: string;
let stores: SqliteBackend;
let signing: SigningKey;
let embedded: UpgradeDeps;
/** The same stores, answering through promises as a networked backend does. */
let networked: UpgradeDeps;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), "msgr-upgrade-auth-"));
  const keys = await ensureEmbeddedKeyring(dataDir);
  signing = await loadSigningKey(keys);
  stores = openSqlite({ path: ":memory:", synchronous: "normal" });
  const { metadata, safety } = stores;
  embedded = { config: testConfig(dataDir), clock: systemClock, keyring: await loadKeyring(keys), metadata, users: safety, tickets: new MemoryTicketStore() };
  networked = {
    ...embedded,
    users: { admitUser: async (...a) => safety.admitUser(...a), getUser: (id) => safety.getUser(id) },
    metadata: Object.assign(Object.create(metadata), { touchDevice: async (...a: Parameters<typeof metadata.touchDevice>) => metadata.touchDevice(...a) }),
  };
});

afterAll(async () => {
  await stores.close();
  rmSync(dataDir, { recursive: true, force: true });
});

async function request(user: string, device: string): Promise<[Request, URL]> {
  const token = await mintAccessToken(signing, { user, device, ttlSec: 600, audience: embedded.config.auth.audience });
  const req = new Request("http://127.0.0.1/v1/ws", { headers: { upgrade: "websocket", authorization: `Bearer ${token}` } });
  return [req, new URL(req.url)];
}

test("embedded stores: the verdict on a bearer token comes at once, accepted or refused", async () => {
  const accepted = authenticateUpgrade(embedded, ...(await request("alice", "phone")));
  expect(accepted).not.toBeInstanceOf(Promise);
  expect(accepted).toMatchObject({ user: "alice", device: "phone" });

  await stores.metadata.revokeDevice("alice", "phone", Date.now());
  const refused = authenticateUpgrade(embedded, ...(await request("alice", "phone")));
  expect(refused).not.toBeInstanceOf(Promise);
  expect(refused).toMatchObject({ status: 403, code: "device-revoked" });
});

test("stores that answer later, or a ticket: the same verdicts, through a promise", async () => {
  const accepted = authenticateUpgrade(networked, ...(await request("bob", "laptop")));
  expect(accepted).toBeInstanceOf(Promise);
  expect(await accepted).toMatchObject({ user: "bob", device: "laptop" });

  await stores.metadata.revokeDevice("bob", "laptop", Date.now());
  const refused = authenticateUpgrade(networked, ...(await request("bob", "laptop")));
  expect(refused).toBeInstanceOf(Promise);
  expect(await refused).toMatchObject({ status: 403, code: "device-revoked" });

  const ticket = await embedded.tickets.issue({ user: "carol", device: "web", expiresAt: Date.now() + 60_000 }, 60_000, Date.now());
  const byTicket = new Request(`http://127.0.0.1/v1/ws?ticket=${ticket}`, { headers: { upgrade: "websocket" } });
  const viaTicket = authenticateUpgrade(embedded, byTicket, new URL(byTicket.url));
  expect(viaTicket).toBeInstanceOf(Promise);
  expect(await viaTicket).toMatchObject({ user: "carol", device: "web" });
});
