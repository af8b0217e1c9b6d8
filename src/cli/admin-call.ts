// How the CLI reaches a running server's admin API (`revoke`, `admin`): the server's
// HTTP address from the config unless --url names another, and a refusal to connect reported as
// a usage mistake that says what to check.

import type { Config } from "../config/config.ts";
import { UsageError } from "./signing-key.ts";

/** The server's HTTP URL: `url` when given, else the config's listening address. */
export function serverUrl(config: Config, url?: string): string {
  return url ?? `${config.server.tlsCertFile ? "https" : "http"}://${config.server.host}:${config.server.port}`;
}

/** fetch, with a server that does not answer reported as a UsageError. */
export async function callServer(url: URL | string, init: RequestInit): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (e) {
    throw new UsageError(`no msgr server answers at ${new URL(url).origin} (${(e as Error).message}): is \`msgr start\` running? (--url to name another)`);
  }
}
