// How every msgr process connects to NATS: the servers, a connection name, its credentials and
// TLS, from the `nats` settings. The bus, the message log and the worker all take these, so a
// role's identity is whatever credential its process is given (the edge's or the worker's
// nkey), and the server's permissions for that identity (nats-permissions.ts) decide what it
// may publish and subscribe to.

import { credsAuthenticator, nkeyAuthenticator, nkeys, type Authenticator, type TlsOptions } from "nats";
import type { Config } from "../config/config.ts";
import { ConfigError } from "../config/config.ts";
import { readPublicFile, readSecretBytes } from "./files.ts";
import { hostOf, identityAmong } from "./tls.ts";

/** What NatsBus.connect and MessageLog.open need to reach NATS. */
export interface NatsClientOptions {
  servers: string[];
  /** Shows in the server's monitoring (connz), so an operator can tell processes apart. */
  name: string;
  authenticator?: Authenticator;
  /** Set: TLS is required and the server's certificate is verified. */
  tls?: TlsOptions;
}

/** The connection options for a process named `name`, reading its credential and CA files now. */
export function natsClientOptions(config: Config, name: string, env: Record<string, string | undefined> = process.env): NatsClientOptions {
  const n = config.nats;
  const opts: NatsClientOptions = { servers: n.servers, name };
  if (n.nkeyFile) {
    const seed = new Uint8Array(readSecretBytes("nats.nkeyFile", n.nkeyFile, env)).filter((b) => b !== 0x0a && b !== 0x0d && b !== 0x20);
    try {
      // Fails on anything that is not a user seed, here rather than as an authorization error later.
      if (nkeys.fromSeed(seed).getPublicKey()[0] !== "U") throw new Error("not a user nkey");
    } catch (e) {
      throw new ConfigError(`nats.nkeyFile: ${n.nkeyFile} does not hold an nkey user seed (SU...): ${(e as Error).message}`);
    }
    opts.authenticator = nkeyAuthenticator(seed);
  } else if (n.credsFile) {
    opts.authenticator = credsAuthenticator(new Uint8Array(readSecretBytes("nats.credsFile", n.credsFile, env)));
  }
  if (n.tls) {
    // nats.js hands these to tls.connect as they are (TlsOptions types only the common ones).
    const tls: TlsOptions & { checkServerIdentity: ReturnType<typeof identityAmong> } = { checkServerIdentity: identityAmong(n.servers.map(hostOf)) };
    if (n.tlsCaFile) tls.ca = readPublicFile("nats.tlsCaFile", n.tlsCaFile, env);
    opts.tls = tls;
  }
  return opts;
}
