// Test certificates from infra/services/certs.sh (the script the local cluster uses): a private
// CA and server certificates for 127.0.0.1, ::1 and localhost.

import { spawn } from "bun";
import { join } from "node:path";
import { connect } from "node:tls";

export interface TestCert {
  /** The CA every client must trust (the *.tlsCaFile settings). */
  caFile: string;
  certFile: string;
  keyFile: string;
}

const SCRIPT = join(import.meta.dir, "../../../infra/services/certs.sh");

/** Creates (once per dir) the CA in `dir` and a server certificate with CN `name` signed by it. */
export async function makeCert(dir: string, name = "server"): Promise<TestCert> {
  const p = spawn(["bash", SCRIPT, dir, name], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const [code, err] = await Promise.all([p.exited, new Response(p.stderr).text()]);
  if (code !== 0) throw new Error(`infra/services/certs.sh ${dir} ${name} failed (exit ${code}): ${err}`);
  return { caFile: join(dir, "ca.pem"), certFile: join(dir, `${name}.pem`), keyFile: join(dir, `${name}.key`) };
}

/** The CN of the certificate a TLS server on 127.0.0.1:`port` presents, verified against `ca`. */
export function servedCertName(port: number, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port, ca, rejectUnauthorized: true }, () => {
      const cn = socket.getPeerCertificate().subject.CN;
      socket.destroy();
      resolve(Array.isArray(cn) ? cn.join(",") : cn);
    });
    socket.once("error", reject);
  });
}

/** Bun's own client, whatever a test installed since (so that installs never nest). */
const NATIVE_WEBSOCKET = globalThis.WebSocket;

/**
 * Makes the WebSocket clients of this process (the SDK's) trust `ca`, as NODE_EXTRA_CA_CERTS does
 * for a Bun process at startup (it cannot be set later); returns the undo. Uses Bun's own
 * WebSocket client option `tls`, so certificate and name are still verified.
 */
export function trustCaForWebSockets(ca: string): () => void {
  const Original = NATIVE_WEBSOCKET;
  class Trusting extends Original {
    constructor(url: string | URL, protocols?: string | string[]) {
      super(url, { protocols, tls: { ca } } as unknown as string[]);
    }
  }
  globalThis.WebSocket = Trusting as typeof WebSocket;
  return () => {
    globalThis.WebSocket = Original;
  };
}
