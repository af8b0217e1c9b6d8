// A real nats-server child process on a free loopback port, for tests of the cluster backends.
// Uses the pinned nats-server that infra/services/install-nats.sh builds (the Debian package is
// too old for `sync_interval`); JetStream runs as production does, fsyncing before every ack.

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestCert } from "./certs.ts";
import { freePorts, installedByScript, serverProcess } from "./common.ts";

export interface NatsServer {
  url: string;
  port: number;
  /** The HTTP monitoring endpoint (/connz, /subsz, ...), to see what clients subscribed. */
  monitorUrl: string;
  /** The server's process id while it runs (for CPU accounting in the bench). */
  readonly pid: number | undefined;
  /** Kills the server and removes its storage directory. */
  stop(): Promise<void>;
  /** Kills the server (SIGKILL, like a crash) and starts it again on the same ports and storage; resolves once it accepts connections. */
  restart(): Promise<void>;
}

const HOST = "127.0.0.1";

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createConnection({ host: HOST, port });
    sock.once("connect", () => {
      sock.destroy();
      resolve(true);
    });
    sock.once("error", () => resolve(false));
  });
}

export interface NatsSecurity {
  /** Clients must use TLS with this certificate's CA. */
  cert: TestCert;
  /** The accounts block (natsAccountsConf, as `msgr nats-auth` writes it): only its users get in. */
  accounts: string;
}

/**
 * `extraConfig`: more server configuration (e.g. operator mode), appended as it is. `fsync: false`:
 * JetStream leaves writes to the OS (its default sync interval) instead of syncing before each
 * ack, for suites that test behaviour, not durability against power loss.
 */
export async function startNats(opts: { jetstream?: boolean; fsync?: boolean; secure?: NatsSecurity; extraConfig?: string } = {}): Promise<NatsServer> {
  const bin = await installedByScript("install-nats.sh");
  const [port, monitorPort] = (await freePorts(2, HOST)) as [number, number];
  const storeDir = opts.jetstream || opts.secure || opts.extraConfig ? mkdtempSync(join(tmpdir(), "msgr-nats-")) : undefined;
  const args = [bin, "-a", HOST, "-p", String(port), "-m", String(monitorPort)];
  if (storeDir) {
    // sync_interval has no command-line flag, nor have accounts.
    const conf = join(storeDir, "nats.conf");
    const sync = opts.fsync === false ? "" : ", sync_interval: always";
    let text = opts.jetstream ? `jetstream { store_dir: "${join(storeDir, "js")}"${sync} }\n` : "";
    if (opts.secure) text += `tls { cert_file: "${opts.secure.cert.certFile}", key_file: "${opts.secure.cert.keyFile}", timeout: 2 }\n${opts.secure.accounts}`;
    if (opts.extraConfig) text += opts.extraConfig;
    writeFileSync(conf, text);
    args.push("-c", conf);
  }

  const server = serverProcess(`nats-server on port ${port}`, args, () => accepts(port));
  // If this process exits without stop() (an interrupted bench or test run), take the server and
  // its storage down with it. Exit hooks are synchronous: a plain SIGKILL.
  const onExit = () => {
    try {
      const pid = server.pid();
      if (pid !== undefined) process.kill(pid, "SIGKILL");
    } catch {
      // Already gone.
    }
    if (storeDir) rmSync(storeDir, { recursive: true, force: true });
  };
  process.on("exit", onExit);
  try {
    await server.start();
  } catch (e) {
    process.off("exit", onExit);
    if (storeDir) rmSync(storeDir, { recursive: true, force: true });
    throw e;
  }
  return {
    url: `nats://${HOST}:${port}`,
    port,
    monitorUrl: `http://${HOST}:${monitorPort}`,
    get pid() {
      return server.pid();
    },
    async stop() {
      process.off("exit", onExit);
      await server.kill();
      if (storeDir) rmSync(storeDir, { recursive: true, force: true });
    },
    async restart() {
      await server.kill();
      await server.start();
    },
  };
}
