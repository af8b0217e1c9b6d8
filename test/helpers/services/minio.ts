// A real MinIO server child process on free loopback ports, for the media contract tests. Each
// call gets its own empty data directory, removed on stop. MinIO has no Debian package, so a
// missing binary is built from source by infra/services/install-minio.sh (Go, minutes once).

import { randomBytes } from "node:crypto";
import { copyFile, mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestCert } from "./certs.ts";
import { freePorts, installedByScript } from "./common.ts";
import { spawnEngine } from "./engine-process.ts";

export interface MinioServer {
  endPoint: string;
  port: number;
  /** HTTPS only (started with `secure`). */
  useSSL: boolean;
  accessKey: string;
  secretKey: string;
  /** Kills the server and removes its data. */
  stop(): Promise<void>;
}

const HOST = "127.0.0.1";
const READY_TIMEOUT_MS = 60_000;

/** The minio binary, built on first use when there is none. Rejects with the reason when it cannot be built. */
export const minioBinary = () => installedByScript("install-minio.sh");

export async function startMinio(opts: { secure?: { cert: TestCert } } = {}): Promise<MinioServer> {
  const bin = await minioBinary();
  const [port, consolePort] = (await freePorts(2, HOST)) as [number, number];
  const dir = await mkdtemp(join(tmpdir(), "msgr-minio-"));
  const accessKey = "msgr-test";
  const secretKey = randomBytes(18).toString("base64url");
  const args = [bin, "server", join(dir, "data"), "--address", `${HOST}:${port}`, "--console-address", `${HOST}:${consolePort}`, "--quiet"];
  let ca: string | undefined;
  if (opts.secure) {
    // MinIO serves HTTPS, and only HTTPS, when its certs directory holds public.crt and private.key.
    const certs = join(dir, "certs");
    await mkdir(certs, { mode: 0o700 });
    await copyFile(opts.secure.cert.certFile, join(certs, "public.crt"));
    await copyFile(opts.secure.cert.keyFile, join(certs, "private.key"));
    args.push("--certs-dir", certs);
    ca = await readFile(opts.secure.cert.caFile, "utf8");
  }
  const proc = spawnEngine(args, {
    // No update checks: tests reach nothing beyond loopback.
    env: { ...process.env, MINIO_ROOT_USER: accessKey, MINIO_ROOT_PASSWORD: secretKey, MINIO_UPDATE: "off" },
  });
  // Keep reading both pipes (a full pipe blocks the server); the tail goes in the error when it does not start.
  let log = "";
  for (const stream of [proc.stdout, proc.stderr]) {
    void (async () => {
      for await (const chunk of stream) log = (log + new TextDecoder().decode(chunk)).slice(-8192);
    })();
  }
  const stop = async () => {
    proc.kill("SIGKILL");
    await proc.exited;
    await rm(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (!(await live(port, ca))) {
    if (proc.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`minio did not start on port ${port} (exit ${proc.exitCode}):\n${log}`);
    }
    await Bun.sleep(50);
  }
  return { endPoint: HOST, port, useSSL: ca !== undefined, accessKey, secretKey, stop };
}

async function live(port: number, ca?: string): Promise<boolean> {
  try {
    const url = `${ca === undefined ? "http" : "https"}://${HOST}:${port}/minio/health/live`;
    const res = await fetch(url, { signal: AbortSignal.timeout(1000), ...(ca === undefined ? {} : { tls: { ca } }) });
    return res.ok;
  } catch {
    return false;
  }
}
