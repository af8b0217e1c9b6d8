// Files named by `*File` settings: secrets (passwords, nkey seeds, private keys) and the public
// material that goes with them (CA bundles, certificates). A setting is either a path or
// `credential:NAME`, a systemd credential that the unit passes with LoadCredential=NAME:PATH:
// systemd copies it into a directory only this service can read and names that directory in
// $CREDENTIALS_DIRECTORY, so the source file can stay root-only and no secret is ever on a
// command line or in the environment. Secrets in a file that other users can read or write are
// refused: such a file has been exposed to every account on the machine already.

import { readFileSync, statSync } from "node:fs";
import { isAbsolute, join } from "node:path";
import { ConfigError } from "../config/config.ts";

const CREDENTIAL = "credential:";

/** Where the file named by setting `setting` (e.g. "redis.passwordFile") is. */
export function resolveFileSetting(setting: string, ref: string, env: Record<string, string | undefined> = process.env): string {
  if (!ref.startsWith(CREDENTIAL)) return ref;
  const name = ref.slice(CREDENTIAL.length);
  // systemd credential names are plain file names.
  if (!/^[A-Za-z0-9_.@:-]+$/.test(name) || name === "." || name === "..") {
    throw new ConfigError(`${setting}: "${ref}" is not a valid credential name (letters, digits and _.@:- only)`);
  }
  const dir = env.CREDENTIALS_DIRECTORY;
  if (!dir || !isAbsolute(dir)) {
    throw new ConfigError(`${setting}: "${ref}" names a systemd credential, but $CREDENTIALS_DIRECTORY is not set; pass it with LoadCredential=${name}:/path/to/file in the unit, or set ${setting} to a path`);
  }
  return join(dir, name);
}

function read(setting: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new ConfigError(`${setting}: cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/**
 * Refuses a secret file that users other than its owner and group may read or write. Checked on
 * the file itself, after links, since that is what the permission bits of a read apply to.
 */
export function assertPrivateFile(setting: string, path: string): void {
  let mode: number;
  try {
    mode = statSync(path).mode;
  } catch (e) {
    throw new ConfigError(`${setting}: cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if ((mode & 0o006) !== 0) {
    throw new ConfigError(`${setting}: ${path} holds a secret but other users can ${mode & 0o004 ? "read" : "write"} it (mode ${(mode & 0o777).toString(8).padStart(4, "0")}); chmod 600 it (or 640 for a service group) and replace the secret, which may have leaked`);
  }
}

/** The bytes of a secret file (a private key, a seed); refuses one that others may read. */
export function readSecretBytes(setting: string, ref: string, env: Record<string, string | undefined> = process.env): Buffer {
  const path = resolveFileSetting(setting, ref, env);
  assertPrivateFile(setting, path);
  return read(setting, path);
}

/** A secret file's text (a password), without the trailing newline editors and `echo` add. */
export function readSecret(setting: string, ref: string, env: Record<string, string | undefined> = process.env): string {
  const value = readSecretBytes(setting, ref, env).toString("utf8").replace(/\r?\n$/, "");
  if (value === "") throw new ConfigError(`${setting}: ${resolveFileSetting(setting, ref, env)} is empty`);
  return value;
}

/** A public file's text (a CA bundle, a certificate chain): no permission check. */
export function readPublicFile(setting: string, ref: string, env: Record<string, string | undefined> = process.env): string {
  return read(setting, resolveFileSetting(setting, ref, env)).toString("utf8");
}
