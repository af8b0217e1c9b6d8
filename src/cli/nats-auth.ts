// `msgr nats-auth`: the NATS identities of msgr's roles and the server configuration that lets
// them in. Creates one nkey per role (edge.nk, worker.nk: seeds, readable by their owner only,
// made once and kept), and writes msgr-accounts.conf, the account block for nats-server with
// each role's public key and permissions (src/connect/nats-permissions.ts). The seeds go to the
// machines of that role (nats.nkeyFile, best as a systemd credential); the .conf to every NATS
// server. Running it again keeps the keys and rewrites the .conf (after a permissions change).

import { chmod, mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { nkeys } from "nats";
import { natsAccountsConf, type LogNames, type NatsRole } from "../connect/nats-permissions.ts";
import { createSecretTextFileOnce } from "../secret-file.ts";

export interface NatsIdentity {
  role: NatsRole;
  /** The seed file: what nats.nkeyFile names. */
  seedFile: string;
  /** U...: what the server's accounts file lists. */
  publicKey: string;
}

const ROLES: NatsRole[] = ["edge", "worker"];

/** Each role's nkey in `dir`, created on first use. */
export async function ensureNatsIdentities(dir: string): Promise<Record<NatsRole, NatsIdentity>> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const out = {} as Record<NatsRole, NatsIdentity>;
  for (const role of ROLES) {
    const seedFile = join(dir, `${role}.nk`);
    await createSecretTextFileOnce(seedFile, `${new TextDecoder().decode(nkeys.createUser().getSeed())}\n`);
    const seed = new TextEncoder().encode((await readFile(seedFile, "utf8")).trim());
    out[role] = { role, seedFile, publicKey: nkeys.fromSeed(seed).getPublicKey() };
  }
  return out;
}

/** Writes `dir`/msgr-accounts.conf for these identities; returns its path. */
export async function writeNatsAccounts(dir: string, names: LogNames, identities: Record<NatsRole, NatsIdentity>): Promise<string> {
  const file = join(dir, "msgr-accounts.conf");
  const tmp = `${file}.${process.pid}.tmp`;
  // Public keys and permissions only: nothing secret, so nats-server may read it under its own user.
  await writeFile(tmp, natsAccountsConf(names, ROLES.map((role) => ({ role, nkey: identities[role].publicKey }))));
  await chmod(tmp, 0o644);
  await rename(tmp, file);
  return file;
}
