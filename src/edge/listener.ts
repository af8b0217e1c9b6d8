// The edge's listening socket, with TLS when server.tlsCertFile and server.tlsKeyFile are set,
// so that a small deployment serves https:// and wss:// without a proxy in front.
//
// Certificates are renewed while the process runs (certbot, an internal CA): on SIGHUP, and
// when anything changes in the directories of the two files, the pair is read again and, if it
// changed and the key matches the certificate, a new listener takes over the port. Bun cannot
// swap the certificate of a running server (server.reload() ignores `tls`), so the old listener
// stops accepting and keeps its open connections, which live on with the old certificate until
// they close; new connections get the new one. With server.reusePort both listen for a moment
// and no connection attempt is refused; without it the port is closed and reopened at once, and
// a client that connects in that instant is refused and retries.

import { createPrivateKey, X509Certificate } from "node:crypto";
import { watch, type FSWatcher } from "node:fs";
import { dirname } from "node:path";
import type { Server } from "bun";
import type { Logger } from "pino";
import type { Config } from "../config/config.ts";
import { readPublicFile, readSecretBytes } from "../connect/files.ts";

export interface EdgeListener<T = unknown> {
  readonly hostname: string;
  readonly port: number;
  /** Whether it serves TLS (https://, wss://). */
  readonly tls: boolean;
  /** Stops accepting; with closeActive, also closes every open connection, whatever certificate it came in with. */
  stop(closeActive?: boolean): void;
  /** Reads the certificate and key again and serves them if they changed; false when they could not be used (logged). */
  reloadTls(reason: string): boolean;
  /** The Bun servers that may hold open connections: the current one, and any retired by a TLS reload. */
  servers(): Server<T>[];
}

interface TlsPair {
  cert: string;
  key: string;
}

/** Changes in a watched directory come in bursts (a key, then a certificate, then a symlink): wait for the last. */
const SETTLE_MS = 250;

/** Reads the pair; refuses a key that is readable by others or does not belong to the certificate. */
export function loadTlsPair(server: Pick<Config["server"], "tlsCertFile" | "tlsKeyFile">): TlsPair {
  const cert = readPublicFile("server.tlsCertFile", server.tlsCertFile);
  const key = readSecretBytes("server.tlsKeyFile", server.tlsKeyFile).toString("utf8");
  let matches: boolean;
  try {
    matches = new X509Certificate(cert).checkPrivateKey(createPrivateKey(key));
  } catch (e) {
    throw new Error(`server.tlsCertFile/server.tlsKeyFile: not a PEM certificate and private key: ${(e as Error).message}`);
  }
  // Also what a renewal caught between writing its two files looks like: the current pair stays.
  if (!matches) throw new Error(`server.tlsKeyFile (${server.tlsKeyFile}) is not the key of server.tlsCertFile (${server.tlsCertFile})`);
  return { cert, key };
}

type ServeOptions<T> = Parameters<typeof Bun.serve<T>>[0];

/** Bun.serve with `options`, plus TLS from `server` when configured, reloaded as described above. */
export function serveEdge<T>(server: Config["server"], log: Logger, options: ServeOptions<T>): EdgeListener<T> {
  const tlsOn = server.tlsCertFile !== "";
  let pair = tlsOn ? loadTlsPair(server) : undefined;
  let current: Server<T> = Bun.serve<T>({ ...options, ...(pair ? { tls: pair } : {}) } as ServeOptions<T>);
  // A port of 0 in the config: the replacement must take the port the first one got.
  const port = current.port!;
  /** Listeners that stopped accepting but may still hold connections. */
  let retired: Server<T>[] = [];
  let stopped = false;
  let servers: Server<T>[] = [current];

  const reloadTls = (reason: string): boolean => {
    if (stopped) return false;
    if (!tlsOn) {
      log.info({ reason }, "no TLS configured at the edge; nothing to reload");
      return true;
    }
    let next: TlsPair;
    try {
      next = loadTlsPair(server);
    } catch (err) {
      log.error({ err: (err as Error).message, reason }, "TLS certificate not reloaded; still serving the previous one");
      return false;
    }
    if (next.cert === pair!.cert && next.key === pair!.key) return true;
    const serveWith = (tls: TlsPair) => Bun.serve<T>({ ...options, port, tls } as ServeOptions<T>);
    // With reusePort the new listener opens before the old one closes; without, just after.
    if (!server.reusePort) current.stop(false);
    let replacement: Server<T>;
    try {
      replacement = serveWith(next);
    } catch (err) {
      // Not expected (the pair was checked, the port was ours a moment ago): keep the previous pair.
      log.error({ err: (err as Error).message, reason }, "could not listen with the new TLS certificate; serving the previous one");
      if (!server.reusePort) {
        retired.push(current);
        current = serveWith(pair!);
      }
      return false;
    }
    if (server.reusePort) current.stop(false);
    retired = [...retired.filter((s) => s.pendingRequests + s.pendingWebSockets > 0), current];
    current = replacement;
    pair = next;
    log.info({ reason, certFile: server.tlsCertFile, notAfter: new X509Certificate(next.cert).validTo }, "TLS certificate reloaded");
    return true;
  };

  const onSighup = () => reloadTls("SIGHUP");
  process.on("SIGHUP", onSighup);

  const watchers: FSWatcher[] = [];
  let settle: ReturnType<typeof setTimeout> | undefined;
  if (tlsOn) {
    // Directories, not the files: renewals replace files (rename, symlink swap) rather than
    // write into them, and a watch on a replaced file sees nothing more. Any change in them
    // triggers a check, not only one naming our files: a rename may be reported under its
    // temporary name only, and Kubernetes swaps a "..data" link. An unchanged pair is left alone.
    for (const dir of new Set([dirname(server.tlsCertFile), dirname(server.tlsKeyFile)])) {
      try {
        const w = watch(dir, () => {
          clearTimeout(settle);
          settle = setTimeout(() => reloadTls("file changed"), SETTLE_MS);
          settle.unref?.();
        });
        w.on("error", (err) => log.warn({ err: err.message, dir }, "stopped watching the TLS files; reload with SIGHUP"));
        watchers.push(w);
      } catch (err) {
        log.warn({ err: (err as Error).message, dir }, "cannot watch the TLS files for changes; reload with SIGHUP");
      }
    }
  }

  return {
    hostname: current.hostname ?? server.host,
    port,
    tls: tlsOn,
    reloadTls,
    servers: () => {
      // Called per published frame: the array is rebuilt only when a reload changed the set.
      if (servers[0] !== current || servers.length !== retired.length + 1) servers = [current, ...retired];
      return servers;
    },
    stop(closeActive = false) {
      if (!stopped) {
        stopped = true;
        process.off("SIGHUP", onSighup);
        clearTimeout(settle);
        for (const w of watchers) w.close();
      }
      current.stop(closeActive);
      if (closeActive) for (const s of retired) s.stop(true);
    },
  };
}
