// SIGTERM with shutdown.drainDelayMs: /readyz turns 503 at once while the node still serves
// everyone (sends are acked, new connections accepted), so a load balancer stops routing here
// first; after the delay the drain proceeds (clients closed with 4000) and the process exits 0.

import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "../../src/sdk/index.ts";
import { childToken, startChild, type ChildServer } from "../helpers/child-server.ts";
import { nextEvent } from "../helpers/harness.ts";

const dataDir = mkdtempSync(join(tmpdir(), "msgr-drain-delay-"));
let child: ChildServer | undefined;
afterAll(() => {
  child?.proc.kill("SIGKILL");
  rmSync(dataDir, { recursive: true, force: true });
});

async function connected(user: string, device: string): Promise<Client> {
  const c = new Client({ url: child!.wsUrl, token: await childToken(dataDir, user, device), reconnect: false });
  const synced = nextEvent(c, "synced");
  await c.connect();
  await synced;
  return c;
}

describe("drain delay", () => {
  test("/readyz fails first; the node keeps serving through the delay; then it drains and exits 0", async () => {
    // Long enough for the few round trips below, whatever the machine's load.
    child = await startChild({ MSGR_SERVER_DATA_DIR: dataDir, MSGR_SHUTDOWN_DRAIN_DELAY_MS: "8000" });
    const alice = await connected("alice", "phone");
    const conv = await alice.openDirect("bob");
    expect((await fetch(`${child.httpUrl}/readyz`)).status).toBe(200);

    const closed = nextEvent(alice, "disconnected", () => true, 30_000);
    child.proc.kill("SIGTERM");
    let res = await fetch(`${child.httpUrl}/readyz`);
    while (res.status !== 503) res = await fetch(`${child.httpUrl}/readyz`);
    expect(await res.json()).toMatchObject({ ready: false, draining: true, failed: [] });

    // Not draining yet: sends are acked and a new device still connects.
    expect((await alice.send(conv.id, "still here")).seq).toBeGreaterThan(0);
    const bob = await connected("bob", "phone");
    expect((await bob.conversations()).map((c) => c.id)).toContain(conv.id);

    expect((await closed).code).toBe(4000);
    expect(await child.exited).toBe(0);
    const log = child.output();
    expect(log.indexOf("not ready: /readyz answers 503")).toBeGreaterThan(-1);
    expect(log.indexOf("not ready: /readyz answers 503")).toBeLessThan(log.indexOf('"msg":"draining"'));
    bob.close();
  });
});
