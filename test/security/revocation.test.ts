// Device revocation through the protocol, the admin HTTP endpoint and the CLI: the revoked
// device is disconnected (4503) at once, refused at every later upgrade, and nobody else notices.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { subjects } from "../../src/bus/subjects.ts";
import { Client, DisconnectCode, ErrorCode, ProtocolError } from "../../src/sdk/index.ts";
import { nextEvent, HARNESS_START_MS, startHarness, text, type Harness } from "../helpers/harness.ts";
import { embeddedOnly, forEachTopology } from "../helpers/topology.ts";
import { until } from "../helpers/wait.ts";
import { customToken, expectRefused, signingKey, wsOutcome } from "./ws.ts";

forEachTopology((topology) => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({}, { topology });
  }, HARNESS_START_MS);
  afterAll(() => h.stop());

  /** Resolves with the close code when `c` is disconnected by the server within `ms`. */
  function disconnectOf(c: Client, ms = 2000) {
    return nextEvent(c, "disconnected", () => true, ms);
  }

  async function adminRevoke(token: string | null, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (token !== null) headers.authorization = `Bearer ${token}`;
    const res = await fetch(`${h.server.httpUrl}/v1/admin/revoke`, { method: "POST", headers, body: typeof body === "string" ? body : JSON.stringify(body) });
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  }

  /** The revoked device cannot come back by any route: token header, subprotocol, or a ticket. */
  async function expectLockedOut(user: string, device: string): Promise<void> {
    const token = await h.token(user, device);
    await expectRefused(h, { bearer: token }, 403, "device-revoked");
    await expectRefused(h, { protocols: ["msgr.v1", `bearer.${token}`] }, 403, "device-revoked");
    expect((await wsOutcome(h, { bearer: token })).opened).toBe(false);
    // A ticket may still be handed out for the (valid) token, but it cannot open a connection.
    const res = await fetch(`${h.server.httpUrl}/v1/tickets`, { method: "POST", headers: { Authorization: `Bearer ${token}` } });
    if (res.ok) {
      const { ticket } = (await res.json()) as { ticket: string };
      await expectRefused(h, { query: `ticket=${encodeURIComponent(ticket)}` }, 403, "device-revoked");
    }
  }

  /** `a` and `b` (different users) still exchange messages both ways. */
  async function stillTalk(a: Client, b: Client, tag: string): Promise<void> {
    const conv = await a.openDirect(b.session!.user);
    const atB = nextEvent(b, "message", (m) => m.conv === conv.id && text(m) === `${tag} a->b`);
    await a.send(conv.id, `${tag} a->b`);
    await atB;
    const atA = nextEvent(a, "message", (m) => m.conv === conv.id && text(m) === `${tag} b->a`);
    await b.send(conv.id, `${tag} b->a`);
    await atA;
  }

  describe("revocation via the protocol", () => {
    test("a device revokes another device of its user: 4503 at once, refused afterwards, others unaffected", async () => {
      const dev1 = await h.client("alice", "dev1");
      const dev2 = await h.client("alice", "dev2");
      const dev3 = await h.client("alice", "dev3");
      const bob = await h.client("bob", "b1");

      const closed = disconnectOf(dev2);
      const unrelated: number[] = [];
      for (const c of [dev1, dev3, bob]) c.on("disconnected", (d) => unrelated.push(d.code));

      expect(await dev1.revokeDevice("dev2")).toEqual({});
      const d = await closed;
      expect(d.code).toBe(DisconnectCode.DeviceRevoked);
      // 45xx: the SDK must not try again with the same credentials.
      expect(d.willReconnect).toBe(false);

      await expectLockedOut("alice", "dev2");

      // Everyone else is still connected and working.
      expect(unrelated).toEqual([]);
      expect(dev1.connected && dev3.connected && bob.connected).toBe(true);
      await stillTalk(dev1, bob, "after-protocol-revoke");
      const conv = await dev3.openDirect("bob");
      expect((await dev3.send(conv.id, "dev3 still sends")).seq).toBeGreaterThan(0);

      const list = await dev1.devices();
      const byId = Object.fromEntries(list.map((x) => [x.device, x]));
      expect(byId.dev2?.revoked).toBe(true);
      expect(byId.dev1?.revoked).toBe(false);
      expect(byId.dev3?.revoked).toBe(false);
      // The listing is the same from another device.
      expect((await dev3.devices()).find((x) => x.device === "dev2")?.revoked).toBe(true);
    });

    test("a device can revoke itself", async () => {
      const self = await h.client("carol", "c-self");
      const other = await h.client("carol", "c-other");
      const closed = disconnectOf(self);
      // The reply may or may not beat the close; either way the connection ends with 4503.
      await self.revokeDevice("c-self").catch(() => {});
      expect((await closed).code).toBe(DisconnectCode.DeviceRevoked);
      await expectLockedOut("carol", "c-self");
      expect(other.connected).toBe(true);
      expect((await other.devices()).find((x) => x.device === "c-self")?.revoked).toBe(true);
    });

    test("a user cannot revoke another user's device, and unknown devices are NotFound", async () => {
      const victim = await h.client("dave", "d1");
      const mallory = await h.client("mallory", "m1");
      const drops: number[] = [];
      victim.on("disconnected", (d) => drops.push(d.code));

      const e = await mallory.revokeDevice("d1").then(
        () => null,
        (x: unknown) => x,
      );
      expect(e).toBeInstanceOf(ProtocolError);
      expect((e as ProtocolError).code).toBe(ErrorCode.NotFound);

      const e2 = await victim.revokeDevice("never-seen").then(
        () => null,
        (x: unknown) => x,
      );
      expect((e2 as ProtocolError).code).toBe(ErrorCode.NotFound);

      // A round trip on the victim's connection: a close caused by those commands would have come first.
      expect((await victim.devices()).find((x) => x.device === "d1")?.revoked).toBe(false);
      expect(drops).toEqual([]);
      expect(victim.connected).toBe(true);
      expect((await wsOutcome(h, { bearer: await h.token("dave", "d1-second") })).opened).toBe(true);
    });

    test("an invalid device id is InvalidParams, not a lookup", async () => {
      const c = await h.client("erin", "e1");
      const e = await c.revokeDevice("../e1").then(
        () => null,
        (x: unknown) => x,
      );
      expect((e as ProtocolError).code).toBe(ErrorCode.InvalidParams);
      expect(c.connected).toBe(true);
    });
  });

  describe("revocation via POST /v1/admin/revoke", () => {
    test("an admin token revokes a device: 4503, refused afterwards, others unaffected", async () => {
      const g1 = await h.client("gina", "g1");
      const g2 = await h.client("gina", "g2");
      const hank = await h.client("hank", "h1");
      const closed = disconnectOf(g2);
      const unrelated: number[] = [];
      for (const c of [g1, hank]) c.on("disconnected", (d) => unrelated.push(d.code));

      const r = await adminRevoke(await h.token("ops", "cli", { admin: true }), { user: "gina", device: "g2" });
      expect(r).toEqual({ status: 200, json: { revoked: true } });
      const d = await closed;
      expect(d.code).toBe(DisconnectCode.DeviceRevoked);
      expect(d.willReconnect).toBe(false);

      await expectLockedOut("gina", "g2");
      expect(unrelated).toEqual([]);
      await stillTalk(g1, hank, "after-admin-revoke");
      expect((await g1.devices()).find((x) => x.device === "g2")?.revoked).toBe(true);

      // Revoking again is idempotent.
      expect(await adminRevoke(await h.token("ops", "cli", { admin: true }), { user: "gina", device: "g2" })).toEqual({ status: 200, json: { revoked: true } });
    });

    test("a non-admin token is refused: 403 not-admin, and nothing is revoked", async () => {
      const i1 = await h.client("ian", "i1");
      const drops: number[] = [];
      i1.on("disconnected", (d) => drops.push(d.code));
      // Even the device's own user, with an ordinary token, is not an admin.
      for (const token of [await h.token("ian", "i2"), await h.token("ops", "cli")]) {
        const r = await adminRevoke(token, { user: "ian", device: "i1" });
        expect(r.status).toBe(403);
        expect(r.json.code).toBe("not-admin");
      }
      // A round trip on i1's connection: a close caused by those requests would have come first.
      expect((await i1.devices()).find((x) => x.device === "i1")?.revoked).toBe(false);
      expect(drops).toEqual([]);
    });

    test("missing, forged and foreign-audience admin tokens are refused", async () => {
      const j1 = await h.client("jane", "j1");
      expect(await adminRevoke(null, { user: "jane", device: "j1" })).toMatchObject({ status: 401, json: { code: "credentials-missing" } });

      const key = await signingKey(h);
      const forged = await customToken({ key: crypto.getRandomValues(new Uint8Array(32)), kid: key.kid, sub: "ops", dev: "cli", scope: "admin" });
      expect(await adminRevoke(forged, { user: "jane", device: "j1" })).toMatchObject({ status: 401, json: { code: "token-bad-signature" } });

      const foreign = await customToken({ key: key.key, kid: key.kid, sub: "ops", dev: "cli", scope: "admin", aud: "other" });
      expect(await adminRevoke(foreign, { user: "jane", device: "j1" })).toMatchObject({ status: 401, json: { code: "token-bad-audience" } });

      expect(j1.connected).toBe(true);
      expect((await j1.devices()).find((x) => x.device === "j1")?.revoked).toBe(false);
    });

    test("an expired admin token (beyond server.auth.clockToleranceSec) is refused", async () => {
      const k1 = await h.client("kim", "k1");
      const key = await signingKey(h);
      const now = Math.floor(Date.now() / 1000);
      // Expired 20 s ago: the configured tolerance is 5 s, so every credential check must refuse it,
      // as the WebSocket upgrade does.
      const tolerance = h.config.auth.clockToleranceSec;
      expect(tolerance).toBeLessThan(20);
      const expired = await customToken({ key: key.key, kid: key.kid, sub: "ops", dev: "cli", scope: "admin", iat: now - 600, exp: now - 20 });
      await expectRefused(h, { bearer: expired }, 401, "token-expired");
      const r = await adminRevoke(expired, { user: "kim", device: "k1" });
      expect(r.status).toBe(401);
      expect(k1.connected).toBe(true);
    });

    test("bad bodies are refused: 400", async () => {
      const admin = await h.token("ops", "cli", { admin: true });
      expect(await adminRevoke(admin, "{not json")).toMatchObject({ status: 400, json: { code: "bad-json" } });
      expect(await adminRevoke(admin, { user: "kim" })).toMatchObject({ status: 400, json: { code: "bad-params" } });
      expect(await adminRevoke(admin, { user: "kim", device: "../../x" })).toMatchObject({ status: 400, json: { code: "bad-params" } });
      expect(await adminRevoke(admin, { user: ["kim"], device: "k1" })).toMatchObject({ status: 400, json: { code: "bad-params" } });
      expect(await adminRevoke(admin, null)).toMatchObject({ status: 400, json: { code: "bad-params" } });
    });
  });

  describe("revocation via the CLI", () => {
    test("`msgr revoke` with the server's data dir disconnects the device and locks it out", async () => {
      const l1 = await h.client("lee", "l1");
      const l2 = await h.client("lee", "l2");
      const closed = disconnectOf(l2, 10_000);
      const proc = Bun.spawn([process.execPath, "src/cli/main.ts", "revoke", "--user", "lee", "--device", "l2", "--url", h.server.httpUrl], {
        cwd: `${import.meta.dir}/../..`,
        env: { ...process.env, ...h.cliEnv },
        stdout: "pipe",
        stderr: "pipe",
      });
      const [code, out, err] = await Promise.all([proc.exited, new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
      expect({ code, err }).toEqual({ code: 0, err: "" });
      expect(JSON.parse(out)).toEqual({ revoked: true });
      expect((await closed).code).toBe(DisconnectCode.DeviceRevoked);
      await expectLockedOut("lee", "l2");
      expect(l1.connected).toBe(true);
      expect((await l1.devices()).map((x) => [x.device, x.revoked])).toEqual([
        ["l1", false],
        ["l2", true],
      ]);
    });
  });

  embeddedOnly(topology, "it puts the event on the in-process bus, standing for another node's", () => {
    describe("a revocation heard between the upgrade's store check and the socket's open", () => {
      test("closes the connection at open (4503), and the node keeps nothing of it", async () => {
        const { node } = h.embedded;
        const open = node.sessionCount;
        // The store knows nothing of it, so the upgrade is accepted; the access watch remembers it.
        node.ctx.bus.publish(subjects.access, { t: "revoke", user: "late", device: "d1" });
        const c = new Client({ url: h.server.wsUrl, token: await h.token("late", "d1"), reconnect: false });
        const closed = disconnectOf(c);
        await c.connect().catch(() => {});
        expect((await closed).code).toBe(DisconnectCode.DeviceRevoked);
        // The session was closed before the edge knew it: the node must still forget it.
        expect(node.sessionCount).toBe(open);
        expect(node.userActor("late")).toBeUndefined();
        expect((await node.ctx.presence.get(["late"]))[0]!.online).toBe(false);
      });
    });

    describe("a connection's close reported twice", () => {
      test("counts once", async () => {
        const { node } = h.embedded;
        const open = node.sessionCount;
        const c = await h.client("twice", "t1");
        const [s] = node.sessionsOf("twice");
        expect(node.sessionCount).toBe(open + 1);
        c.close();
        await until(() => node.sessionCount === open, 10_000, "the server to see the close");
        // A second report (openSession's, for a socket closed at open, racing the edge's).
        node.closeSession(s!);
        expect(node.sessionCount).toBe(open);
      });
    });
  });

  describe("a revoked device keeps no side door", () => {
    test("it gets no browser ticket and its admin token no longer revokes", async () => {
      const c = await h.client("rita", "r1");
      await h.client("opsy", "console");
      const phone = await h.client("opsy", "phone");
      await phone.revokeDevice("console");
      const ticket = await fetch(`${h.server.httpUrl}/v1/tickets`, { method: "POST", headers: { authorization: `Bearer ${await h.token("opsy", "console")}` } });
      expect(ticket.status).toBe(403);
      expect(((await ticket.json()) as { code: string }).code).toBe("device-revoked");
      const res = await adminRevoke(await h.token("opsy", "console", { admin: true }), { user: "rita", device: "r1" });
      expect(res).toMatchObject({ status: 403, json: { code: "device-revoked" } });
      expect(c.connected).toBe(true);
    });
  });
});
