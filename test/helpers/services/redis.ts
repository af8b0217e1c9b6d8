// A real redis-server child process on a free loopback port, for tests of the cluster backends.
// Not the system service: each call gets its own empty, non-persistent server. Installs the
// Debian package when the binary is missing (CI images start without it).

import { createConnection } from "node:net";
import { ensureInstalled, freePort, serverProcess } from "./common.ts";

export interface RedisServer {
  url: string;
  port: number;
  /** Kills the server. */
  stop(): Promise<void>;
  /** Kills the server and starts an empty one on the same port; resolves once it answers PING. */
  restart(): Promise<void>;
}

const HOST = "127.0.0.1";

/** The redis-server binary, installed with apt-get on first use when it is not on PATH. */
function redisBinary(): Promise<string> {
  return ensureInstalled({ pkg: "redis-server" });
}

/**
 * Whether the server answers PING with PONG. Accepting the connection is not enough: Redis
 * answers -LOADING while it starts, and a port may briefly belong to something else.
 */
function pongs(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createConnection({ host: HOST, port });
    let reply = "";
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(1000, () => done(false));
    sock.once("connect", () => sock.write("PING\r\n"));
    sock.on("data", (chunk) => {
      reply += chunk.toString();
      if (reply.includes("\r\n")) done(reply.startsWith("+PONG"));
    });
    sock.once("error", () => done(false));
  });
}

export async function startRedis(): Promise<RedisServer> {
  const bin = await redisBinary();
  const port = await freePort(HOST);
  // No persistence: a restart must come back empty, and tests leave no files behind.
  const args = [bin, "--port", String(port), "--bind", HOST, "--save", "", "--appendonly", "no", "--daemonize", "no"];

  const server = serverProcess(`redis-server on port ${port}`, args, () => pongs(port));
  await server.start();
  return {
    url: `redis://${HOST}:${port}`,
    port,
    stop: () => server.kill(),
    async restart() {
      await server.kill();
      await server.start();
    },
  };
}
