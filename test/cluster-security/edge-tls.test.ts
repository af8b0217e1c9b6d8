// TLS at the edge (server.tlsCertFile/tlsKeyFile): the edge serves wss:// with a certificate
// from infra/services/certs.sh, the SDK connects to it when it trusts the CA and not otherwise,
// and a renewed certificate is picked up without a restart, on a file change and on SIGHUP,
// while connections made with the old one live on. A key readable by others, or one that does
// not belong to the certificate, is refused.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "../../src/sdk/index.ts";
import { collect, nextEvent, startHarness, text, until, type Harness } from "../helpers/harness.ts";
import { makeCert, servedCertName, trustCaForWebSockets, type TestCert } from "../helpers/services/certs.ts";

let root: string;
let certs: string;
let first: TestCert;
let renewed: TestCert;
let third: TestCert;
let ca: string;

/** Puts `from`'s pair at `to`'s paths the way renewals do: new files renamed into place. */
function install(from: TestCert, to: { certFile: string; keyFile: string }): void {
  for (const [src, dst] of [
    [from.keyFile, to.keyFile],
    [from.certFile, to.certFile],
  ] as const) {
    copyFileSync(src, `${dst}.new`);
    renameSync(`${dst}.new`, dst);
  }
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "msgr-edge-tls-"));
  certs = join(root, "certs");
  first = await makeCert(certs, "first");
  renewed = await makeCert(certs, "renewed");
  third = await makeCert(certs, "third");
  ca = readFileSync(first.caFile, "utf8");
});

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

/**
 * Sends this process SIGHUP and resolves once it was handled: listeners run in the order they
 * were added, and the edge's (added when it started) reloads synchronously, before this one.
 */
function hangUp(): Promise<void> {
  const handled = new Promise<void>((resolve) => process.once("SIGHUP", () => resolve()));
  process.kill(process.pid, "SIGHUP");
  return handled;
}

/** An edge serving the files in a fresh directory of its own, starting with `first`'s pair. */
async function tlsEdge(reusePort = false): Promise<{ h: Harness; live: { certFile: string; keyFile: string } }> {
  const dir = mkdtempSync(join(root, "live-"));
  const live = { certFile: join(dir, "cert.pem"), keyFile: join(dir, "key.pem") };
  install(first, live);
  const h = await startHarness({ server: { tlsCertFile: live.certFile, tlsKeyFile: live.keyFile, reusePort } });
  return { h, live };
}

describe("edge TLS", () => {
  test("the edge serves wss://; the SDK connects when it trusts the CA, and chats; not when it does not", async () => {
    const { h } = await tlsEdge();
    try {
      expect(h.server.wsUrl).toStartWith("wss://");
      expect(h.server.httpUrl).toStartWith("https://");
      expect(await servedCertName(h.server.port, ca)).toBe("first");

      // Not trusted: the handshake fails, and the SDK reports a failed connection.
      const stranger = new Client({ url: h.server.wsUrl, token: await h.token("eve", "eve-1"), reconnect: false });
      await expect(stranger.connect()).rejects.toThrow();
      stranger.close();
      // Plain HTTP to the TLS port gets no answer.
      await expect(fetch(h.server.httpUrl.replace("https:", "http:") + "/readyz")).rejects.toThrow();

      const restore = trustCaForWebSockets(ca);
      try {
        const alice = await h.client("alice");
        const bob = await h.client("bob");
        const conv = await alice.openDirect("bob");
        const got = nextEvent(bob, "message", (m) => m.conv === conv.id);
        await alice.send(conv.id, "over wss");
        expect(text(await got)).toBe("over wss");
      } finally {
        restore();
      }
      const ready = await fetch(`${h.server.httpUrl}/readyz`, { tls: { ca } });
      expect(ready.status).toBe(200);
    } finally {
      await h.stop();
    }
  });

  test.each([false, true])("a renewed certificate is served after its files change; open connections stay up until shutdown (reusePort %p)", async (reusePort) => {
    const { h, live } = await tlsEdge(reusePort);
    const restore = trustCaForWebSockets(ca);
    try {
      const before = await h.client("carol");
      const peer = await h.client("dave");
      const conv = await peer.openDirect("carol");
      install(renewed, live);
      // Wait for the new listener (a condition, not a sleep: the watcher and its settle delay decide
      // when). Without reusePort a handshake that lands in the instant of the swap is cut: retry it.
      await until(async () => (await servedCertName(h.server.port, ca).catch(() => "")) === "renewed", 10_000, "the renewed certificate to be served");
      // The connection made with the first certificate still carries messages both ways.
      const log = collect(before);
      await peer.send(conv.id, "after renewal");
      await until(() => log.some((m) => text(m) === "after renewal"), 10_000, "the old connection to get a message");
      const after = await h.client("carol", "carol-2");
      expect(after.connected).toBe(true);
      // Shutdown closes connections of every listener, old and new, with 4000 (reconnect).
      const closedOld = nextEvent(before, "disconnected");
      const closedNew = nextEvent(after, "disconnected");
      await h.embedded.stop();
      expect((await closedOld).code).toBe(4000);
      expect((await closedNew).code).toBe(4000);
    } finally {
      restore();
      await h.stop().catch(() => {});
    }
  }, 30_000);

  test("SIGHUP reloads a certificate whose change no watcher saw; a key that does not match is refused and the old pair stays", async () => {
    // The configured paths are links into another directory (as certbot's live/ -> archive/):
    // rewriting the targets is invisible to the watch on the links' directory, so only SIGHUP
    // can pick it up.
    const dir = mkdtempSync(join(root, "linked-"));
    const targets = join(dir, "archive");
    mkdirSync(targets);
    const target = { certFile: join(targets, "cert.pem"), keyFile: join(targets, "key.pem") };
    install(first, target);
    const live = { certFile: join(dir, "cert.pem"), keyFile: join(dir, "key.pem") };
    symlinkSync(target.certFile, live.certFile);
    symlinkSync(target.keyFile, live.keyFile);
    const h = await startHarness({ server: { tlsCertFile: live.certFile, tlsKeyFile: live.keyFile } });
    try {
      expect(await servedCertName(h.server.port, ca)).toBe("first");
      // Half a renewal: the new certificate with the old key. Refused, the first pair stays.
      copyFileSync(renewed.certFile, `${target.certFile}.new`);
      renameSync(`${target.certFile}.new`, target.certFile);
      await hangUp();
      expect(await servedCertName(h.server.port, ca)).toBe("first");
      // The whole pair: SIGHUP serves it.
      install(third, target);
      await hangUp();
      expect(await servedCertName(h.server.port, ca)).toBe("third");
    } finally {
      await h.stop();
    }
  });

  test("a private key that other users can read is refused at start, naming the setting", async () => {
    const dir = mkdtempSync(join(root, "open-"));
    const live = { certFile: join(dir, "cert.pem"), keyFile: join(dir, "key.pem") };
    install(first, live);
    chmodSync(live.keyFile, 0o644);
    await expect(startHarness({ server: { tlsCertFile: live.certFile, tlsKeyFile: live.keyFile } })).rejects.toThrow(/server.tlsKeyFile: .* other users can read it/);
  });
});
