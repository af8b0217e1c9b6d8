// How msgr connects to Cassandra/ScyllaDB: a role with a password (PasswordAuthenticator) and
// client-to-node encryption, from the `cassandra` settings.

import cassandra from "cassandra-driver";
import type { Config } from "../config/config.ts";
import { readPublicFile, readSecret } from "./files.ts";

/** The driver options that authenticate and encrypt. */
export type CassandraConnection = Pick<cassandra.ClientOptions, "authProvider" | "sslOptions" | "socketOptions">;

/** Credentials and TLS for the driver, reading the files now. */
export function cassandraClientOptions(config: Config, env: Record<string, string | undefined> = process.env): CassandraConnection {
  const c = config.cassandra;
  const opts: CassandraConnection = {};
  if (c.username) opts.authProvider = new cassandra.auth.PlainTextAuthProvider(c.username, readSecret("cassandra.passwordFile", c.passwordFile, env));
  // The driver defaults to rejectUnauthorized: false, which would accept any certificate: turn
  // verification on. It connects to each node by its address, so every node's certificate must
  // name the address it advertises (rpc_address/broadcast_rpc_address).
  if (c.tls) {
    opts.sslOptions = { rejectUnauthorized: true, ...(c.tlsCaFile ? { ca: [readPublicFile("cassandra.tlsCaFile", c.tlsCaFile, env)] } : {}) };
    // The driver sets the TLS record size to its write-coalescing threshold (64 KiB by default);
    // TLS records hold at most 16 KiB, and Bun throws where Node ignores the larger value.
    opts.socketOptions = { coalescingThreshold: 16 * 1024 };
  }
  return opts;
}
