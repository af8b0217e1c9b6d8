// A real nats-server child process on a free loopback port, for tests of the cluster backends.
// Installs the Debian package when the binary is missing (CI images start without it).

import { mkdtempSync, rmSync } from "node:fs";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureInstalled, freePort, serverProcess } from "./common.ts";

export interface NatsServer {
  url: string;
  port: number;
  /** The HTTP monitoring endpoint (/connz, /subsz, ...), to see what clients subscribed. */
  monitorUrl: string;
  /** Kills the server and removes its storage directory. */
  stop(): Promise<void>;
  /** Kills the server (SIGKILL, like a crash) and starts it again on the same ports and storage; resolves once it accepts connections. */
  restart(): Promise<void>;
}

const HOST = "127.0.0.1";

// Debian puts the binary in /usr/sbin, which is not on every user's PATH.
const SEARCH_PATH = `${process.env.PATH ?? ""}:/usr/sbin:/usr/local/sbin`;

/** The nats-server binary, installed with apt-get on first use when it is not on PATH. */
function natsBinary(): Promise<string> {
  return ensureInstalled({ pkg: "nats-server", searchPath: SEARCH_PATH, hint: "run `bash infra/services/install.sh` as root" });
}

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

export async function startNats(opts: { jetstream?: boolean } = {}): Promise<NatsServer> {
  const bin = await natsBinary();
  const port = await freePort(HOST);
  const monitorPort = await freePort(HOST);
  const storeDir = opts.jetstream ? mkdtempSync(join(tmpdir(), "msgr-nats-")) : undefined;
  const args = [bin, "-a", HOST, "-p", String(port), "-m", String(monitorPort), ...(storeDir ? ["-js", "-sd", storeDir] : [])];

  const server = serverProcess(`nats-server on port ${port}`, args, () => accepts(port));
  await server.start();
  return {
    url: `nats://${HOST}:${port}`,
    port,
    monitorUrl: `http://${HOST}:${monitorPort}`,
    async stop() {
      await server.kill();
      if (storeDir) rmSync(storeDir, { recursive: true, force: true });
    },
    async restart() {
      await server.kill();
      await server.start();
    },
  };
}
