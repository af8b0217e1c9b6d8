// Loopback addresses and ports for server instances. Instance i listens on 127.0.0.(i+1): each
// address is its own destination, so one generator may hold more connections than the
// ephemeral port range allows towards a single address and port.

export function loopbackHost(instance: number): string {
  if (instance < 0 || instance > 253) throw new Error(`instance ${instance}: only 254 loopback hosts`);
  return `127.0.0.${instance + 1}`;
}

/** Resolves once `host:port` accepts TCP connections; rejects after `timeoutMs` or if `exited` settles first. */
export async function waitForPort(host: string, port: number, timeoutMs: number, exited: Promise<unknown>): Promise<void> {
  let gone = false;
  void exited.then(() => (gone = true));
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (gone) throw new Error(`process serving ${host}:${port} exited before listening`);
    const ok = await new Promise<boolean>((resolve) => {
      Bun.connect({
        hostname: host,
        port,
        socket: {
          open: (s) => {
            s.end();
            resolve(true);
          },
          connectError: () => resolve(false),
          data: () => {},
        },
      }).catch(() => resolve(false));
    });
    if (ok) return;
    await Bun.sleep(50);
  }
  throw new Error(`${host}:${port} did not accept connections within ${timeoutMs} ms`);
}
