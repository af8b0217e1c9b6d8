// A real redis-server child process on a free loopback port, for tests of the cluster backends.
// Not the system service: each call gets its own empty, non-persistent server. Installs the
// Debian package when the binary is missing (CI images start without it).

import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { createConnection } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { redisAclRules } from "../../../src/connect/redis.ts";
import type { TestCert } from "./certs.ts";
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
function pongs(port: number, ca?: string): Promise<boolean> {
  return new Promise((resolve) => {
    // Over TLS, with no user yet: NOAUTH is the answer of a server that is up and refuses strangers.
    const sock = ca === undefined ? createConnection({ host: HOST, port }) : tlsConnect({ host: HOST, port, ca });
    let reply = "";
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(1000, () => done(false));
    sock.once(ca === undefined ? "connect" : "secureConnect", () => sock.write("PING\r\n"));
    sock.on("data", (chunk: Buffer) => {
      reply += chunk.toString();
      if (reply.includes("\r\n")) done(reply.startsWith("+PONG") || (ca !== undefined && reply.startsWith("-NOAUTH")));
    });
    sock.once("error", () => done(false));
  });
}

export interface RedisSecurity {
  /** TLS only (no plain port), with this certificate. */
  cert: TestCert;
  /** The ACL user msgr logs in as (src/connect/redis.ts's rules); the default user is off. */
  user: string;
  passwordFile: string;
}

export async function startRedis(opts: { secure?: RedisSecurity } = {}): Promise<RedisServer> {
  const bin = await redisBinary();
  const port = await freePort(HOST);
  // No persistence: a restart must come back empty, and tests leave no files behind.
  let args = [bin, "--port", String(port), "--bind", HOST, "--save", "", "--appendonly", "no", "--daemonize", "no"];
  const s = opts.secure;
  if (s) {
    // Only the password's hash reaches the server, as in an ACL file.
    const hash = createHash("sha256").update(readFileSync(s.passwordFile, "utf8").replace(/\r?\n$/, "")).digest("hex");
    args = [bin, "--port", "0", "--tls-port", String(port), "--bind", HOST, "--save", "", "--appendonly", "no", "--daemonize", "no",
      "--tls-cert-file", s.cert.certFile, "--tls-key-file", s.cert.keyFile, "--tls-ca-cert-file", s.cert.caFile, "--tls-auth-clients", "no",
      "--user", "default", "off", "--user", s.user, "on", `#${hash}`, ...redisAclRules().split(" ")];
  }
  const ca = s ? readFileSync(s.cert.caFile, "utf8") : undefined;

  const server = serverProcess(`redis-server on port ${port}`, args, () => pongs(port, ca));
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
