// How msgr connects to PostgreSQL: the role's password from a secret file (the server checks it
// with scram-sha-256) and TLS with the server's certificate verified, from the `postgres` settings.

import type { Options, PostgresType } from "postgres";
import type { Config } from "../config/config.ts";
import { readPublicFile, readSecret } from "./files.ts";
import { hostOf, identityAmong } from "./tls.ts";

/** The postgres.js options that authenticate and encrypt. */
export type PostgresConnection = Pick<Options<Record<string, PostgresType>>, "password" | "ssl">;

/** The hosts of a postgres:// URL, which may list several ("postgres://u@h1:5432,h2:5432/db"). */
function urlHosts(url: string): string[] {
  const authority = url.replace(/^postgres(ql)?:\/\//, "").replace(/^[^@/]*@/, "").split(/[/?]/)[0] ?? "";
  return authority.split(",").map(hostOf).filter((h) => h !== "");
}

/** Credentials and TLS for postgres.js, reading the files now. */
export function postgresClientOptions(config: Config, env: Record<string, string | undefined> = process.env): PostgresConnection {
  const p = config.postgres;
  const opts: PostgresConnection = {};
  if (p.passwordFile) opts.password = readSecret("postgres.passwordFile", p.passwordFile, env);
  if (p.tls) {
    opts.ssl = {
      rejectUnauthorized: true,
      checkServerIdentity: identityAmong(urlHosts(p.url)),
      ...(p.tlsCaFile ? { ca: readPublicFile("postgres.tlsCaFile", p.tlsCaFile, env) } : {}),
    };
  }
  return opts;
}
