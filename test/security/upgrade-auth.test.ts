// Who may open a WebSocket: every way of presenting credentials, and every way of getting them
// wrong, against a real server. Refusals are read with fetch (status + JSON code) and checked
// again with a real WebSocket, which must not open.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import pino from "pino";
import { mintAccessToken } from "../../src/auth/tokens.ts";
import { DisconnectCode, Method } from "../../src/proto/codes.ts";
import { startServer } from "../../src/server.ts";
import { Client } from "../../src/sdk/index.ts";
import { ManualClock } from "../../src/clock.ts";
import { HARNESS_START_MS, mintToken, nextEvent, startHarness, testConfig, until, type Harness } from "../helpers/harness.ts";
import { embeddedOnly, forEachTopology } from "../helpers/topology.ts";
import { algNoneToken, customToken, embeddedKey, expectRefused, RawConn, signingKey, upgradeRequest, wsOutcome, type Creds, type Target } from "./ws.ts";

forEachTopology((topology) => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({}, { topology });
  }, HARNESS_START_MS);
  afterAll(() => h.stop());

  /** Refused at upgrade with `status`/`code`, and a real WebSocket with the same credentials does not open. */
  async function refusedBoth(c: Creds, status: number, code: string, target: Target = h): Promise<void> {
    await expectRefused(target, c, status, code);
    expect((await wsOutcome(target, c)).opened).toBe(false);
  }

  async function ticketFor(target: Target, token: string): Promise<Response> {
    return fetch(`${target.server.httpUrl}/v1/tickets`, { method: "POST", headers: { Authorization: `Bearer ${token}` } });
  }

  describe("access tokens at upgrade", () => {
    test("a valid token is accepted via the Authorization header and via the bearer subprotocol", async () => {
      const token = await h.token("alice", "a1");
      const viaHeader = await wsOutcome(h, { bearer: token });
      expect(viaHeader.opened).toBe(true);
      const viaProto = await wsOutcome(h, { protocols: ["msgr.v1", `bearer.${token}`] });
      expect(viaProto.opened).toBe(true);
      // Only msgr.v1 is echoed: the token never comes back in the handshake response.
      expect(viaProto.protocol).toBe("msgr.v1");

      // The Authorization-header socket speaks the protocol as the token's user and device.
      const raw = await RawConn.open(h.server.wsUrl, token, "header");
      const r = await raw.request(Method.Connect, { v: 1 });
      expect(r.code).toBe(0);
      expect(r.body).toMatchObject({ user: "alice", device: "a1" });
      await raw.expectAlive();
      raw.close();
    });

    test("the SDK connects, syncs and talks with a header-authenticated raw peer", async () => {
      const bob = await h.client("bob", "b1");
      expect(bob.session).toMatchObject({ user: "bob", device: "b1" });
      const conv = await bob.openDirect("alice");
      const raw = await RawConn.connected(h.server.wsUrl, await h.token("alice", "a-hdr"));
      const got = nextEvent(bob, "message", (m) => m.conv === conv.id);
      const r = await raw.request(Method.Send, { conv: conv.id, cid: "hdr-1", kind: 1, body: new TextEncoder().encode("via header") });
      expect(r.code).toBe(0);
      expect(new TextDecoder().decode((await got).body)).toBe("via header");
      raw.close();
    });

    test("an expired token (beyond the clock tolerance) is refused: 401 token-expired", async () => {
      const key = await signingKey(h);
      const now = Math.floor(Date.now() / 1000);
      const tolerance = h.config.auth.clockToleranceSec;
      const token = await customToken({ key: key.key, kid: key.kid, sub: "alice", dev: "a1", iat: now - 3600, exp: now - tolerance - 60 });
      await refusedBoth({ bearer: token }, 401, "token-expired");
      await refusedBoth({ protocols: ["msgr.v1", `bearer.${token}`] }, 401, "token-expired");
    });

    test("a token that lives longer than auth.maxTokenLifetimeSec is refused: 401 token-lifetime", async () => {
      const key = await signingKey(h);
      const now = Math.floor(Date.now() / 1000);
      const max = h.config.auth.maxTokenLifetimeSec;
      const cases: [iat: number, exp: number][] = [
        // A century, as in the attack.
        [now, now + 100 * 365 * 86_400],
        // An hour past the limit.
        [now, now + max + 3600],
        // Issued a day ago for an hour more than the limit: less than the limit is left, but its lifetime is too long.
        [now - 86_400, now - 86_400 + max + 3600],
        // An iat in the future cannot hide that more than the limit is left.
        [now + 10 * 86_400, now + max + 3600],
      ];
      for (const [iat, exp] of cases) {
        const token = await customToken({ key: key.key, kid: key.kid, sub: "alice", dev: "a1", iat, exp });
        await refusedBoth({ bearer: token }, 401, "token-lifetime");
      }
      // At the limit it is accepted.
      const ok = await customToken({ key: key.key, kid: key.kid, sub: "alice", dev: "a1", iat: now, exp: now + max });
      expect((await wsOutcome(h, { bearer: ok })).opened).toBe(true);
    });

    test("a forged signature (another secret, same kid) is refused: 401 token-bad-signature", async () => {
      const key = await signingKey(h);
      const forged = await customToken({ key: crypto.getRandomValues(new Uint8Array(32)), kid: key.kid, sub: "alice", dev: "a1" });
      await refusedBoth({ bearer: forged }, 401, "token-bad-signature");
      await refusedBoth({ protocols: ["msgr.v1", `bearer.${forged}`] }, 401, "token-bad-signature");
    });

    test("a token for another audience is refused: 401 token-bad-audience", async () => {
      const key = await signingKey(h);
      const token = await mintAccessToken(key, { user: "alice", device: "a1", ttlSec: 600, audience: "some-other-service" });
      await refusedBoth({ bearer: token }, 401, "token-bad-audience");
    });

    test("an unsigned alg:none token is refused: 401 token-bad-algorithm", async () => {
      const key = await signingKey(h);
      const now = Math.floor(Date.now() / 1000);
      const token = algNoneToken(key.kid, { sub: "alice", dev: "a1", aud: "msgr", iat: now, exp: now + 600 });
      await refusedBoth({ bearer: token }, 401, "token-bad-algorithm");
      await refusedBoth({ protocols: ["msgr.v1", `bearer.${token}`] }, 401, "token-bad-algorithm");
    });

    test("an algorithm other than the key's (HS512 with the HS256 kid) is refused: 401 token-bad-algorithm", async () => {
      const key = await signingKey(h);
      const token = await customToken({ key: crypto.getRandomValues(new Uint8Array(64)), kid: key.kid, alg: "HS512", sub: "alice", dev: "a1" });
      await refusedBoth({ bearer: token }, 401, "token-bad-algorithm");
    });

    test("an unknown kid is refused: 401 token-unknown-key", async () => {
      const key = await signingKey(h);
      // Signed with the real secret: only the kid is wrong.
      const token = await customToken({ key: key.key, kid: "no-such-kid", sub: "alice", dev: "a1" });
      await refusedBoth({ bearer: token }, 401, "token-unknown-key");
    });

    test("garbage and oversized tokens are refused as malformed", async () => {
      await refusedBoth({ bearer: "not.a.jwt" }, 401, "token-malformed");
      await refusedBoth({ bearer: "x".repeat(9000) }, 401, "token-malformed");
    });

    test("a token with illegal user ids in its claims is refused: 401 token-bad-claims", async () => {
      const key = await signingKey(h);
      const token = await customToken({ key: key.key, kid: key.kid, sub: "../../etc/passwd", dev: "a1" });
      await refusedBoth({ bearer: token }, 401, "token-bad-claims");
    });

    test("a token without exp, or not valid yet (nbf), is refused: 401 token-bad-claims", async () => {
      const key = await signingKey(h);
      const forever = await customToken({ key: key.key, kid: key.kid, sub: "alice", dev: "a1", exp: null });
      await refusedBoth({ bearer: forever }, 401, "token-bad-claims");
      const now = Math.floor(Date.now() / 1000);
      const early = await customToken({ key: key.key, kid: key.kid, sub: "alice", dev: "a1", nbf: now + 3600, exp: now + 7200 });
      await refusedBoth({ bearer: early }, 401, "token-bad-claims");
    });

    test("no credentials at all: 401 credentials-missing", async () => {
      await refusedBoth({}, 401, "credentials-missing");
      await refusedBoth({ protocols: ["msgr.v1"] }, 401, "credentials-missing");
      await refusedBoth({ bearer: "" }, 401, "credentials-missing");
    });

    test("a token in the URL is refused, even a valid one: 400 token-in-url", async () => {
      const token = await h.token("alice", "a1");
      await refusedBoth({ query: `token=${token}` }, 400, "token-in-url");
      await refusedBoth({ query: `access_token=${token}` }, 400, "token-in-url");
      // ...also when valid credentials are presented another way as well.
      await refusedBoth({ query: `token=${token}`, bearer: token }, 400, "token-in-url");
    });

    test("subprotocols offered without msgr.v1 are refused: 400 unsupported-subprotocol", async () => {
      const token = await h.token("alice", "a1");
      await refusedBoth({ protocols: [`bearer.${token}`] }, 400, "unsupported-subprotocol");
      await refusedBoth({ protocols: ["msgr.v2", `bearer.${token}`] }, 400, "unsupported-subprotocol");
      await refusedBoth({ protocols: ["chat"], bearer: token }, 400, "unsupported-subprotocol");
    });

    test("a connection is closed with 4010 when its access token expires, also when it came in by ticket", async () => {
      const token = await h.token("alice", "short-lived", { ttlSec: 2 });
      const viaToken = await RawConn.connected(h.server.wsUrl, token);
      const { ticket } = (await (await ticketFor(h, await h.token("alice", "short-ticket", { ttlSec: 2 }))).json()) as { ticket: string };
      const viaTicket = await RawConn.openUrl(`${h.server.wsUrl}?ticket=${encodeURIComponent(ticket)}`);
      expect((await viaTicket.request(Method.Connect, { v: 1 })).code).toBe(0);
      expect(await viaToken.closedWithin(6000)).toBe(DisconnectCode.TokenExpired);
      expect(await viaTicket.closedWithin(6000)).toBe(DisconnectCode.TokenExpired);
    });

    test("a plain GET on the WebSocket path is told to upgrade: 426", async () => {
      const res = await fetch(`${h.server.httpUrl}/v1/ws`);
      expect(res.status).toBe(426);
      expect(((await res.json()) as { code: string }).code).toBe("upgrade-required");
    });
  });

  describe("allowed origins", () => {
    let ho: Harness;
    beforeAll(async () => {
      ho = await startHarness({ server: { allowedOrigins: ["https://app.example"] } }, { topology });
    }, HARNESS_START_MS);
    afterAll(() => ho.stop());

    test("a foreign Origin is refused with valid credentials: 403 origin-not-allowed", async () => {
      const token = await ho.token("alice", "a1");
      await refusedBoth({ origin: "https://evil.example", bearer: token }, 403, "origin-not-allowed", ho);
      await refusedBoth({ origin: "https://evil.example", protocols: ["msgr.v1", `bearer.${token}`] }, 403, "origin-not-allowed", ho);
      // Look-alikes and the opaque "null" origin are not the allowed origin.
      await refusedBoth({ origin: "https://app.example.evil.example", bearer: token }, 403, "origin-not-allowed", ho);
      await refusedBoth({ origin: "http://app.example", bearer: token }, 403, "origin-not-allowed", ho);
      await refusedBoth({ origin: "null", bearer: token }, 403, "origin-not-allowed", ho);
    });

    test("the allowed Origin connects", async () => {
      const token = await ho.token("alice", "a1");
      expect((await wsOutcome(ho, { origin: "https://app.example", bearer: token })).opened).toBe(true);
      expect((await wsOutcome(ho, { origin: "https://app.example", protocols: ["msgr.v1", `bearer.${token}`] })).opened).toBe(true);
    });

    test("the allowed Origin still needs credentials", async () => {
      await refusedBoth({ origin: "https://app.example" }, 401, "credentials-missing", ho);
    });

    test("tickets are not issued to a foreign Origin", async () => {
      const res = await fetch(`${ho.server.httpUrl}/v1/tickets`, {
        method: "POST",
        headers: { Authorization: `Bearer ${await ho.token("alice", "a1")}`, Origin: "https://evil.example" },
      });
      expect(res.status).toBe(403);
      expect(((await res.json()) as { code: string }).code).toBe("origin-not-allowed");
      expect(res.headers.get("access-control-allow-origin")).toBeNull();
    });
  });

  describe("tickets", () => {
    test("a ticket from POST /v1/tickets connects once, as the token's device; the second use is refused", async () => {
      const res = await ticketFor(h, await h.token("carol", "c1"));
      expect(res.status).toBe(200);
      const { ticket, expiresInMs } = (await res.json()) as { ticket: string; expiresInMs: number };
      expect(typeof ticket).toBe("string");
      expect(ticket.length).toBeGreaterThanOrEqual(32);
      expect(expiresInMs).toBe(h.config.auth.ticketTtlMs);

      const ws = new WebSocket(`${h.server.wsUrl}?ticket=${encodeURIComponent(ticket)}`);
      const raw = await new Promise<WebSocket>((resolve, reject) => {
        ws.onopen = () => resolve(ws);
        ws.onclose = (e) => reject(new Error(`ticket connect refused (${e.code})`));
      });
      raw.close();

      await refusedBoth({ query: `ticket=${encodeURIComponent(ticket)}` }, 401, "ticket-invalid");
    });

    test("concurrent upgrades with one ticket: exactly one connects", async () => {
      const { ticket } = (await (await ticketFor(h, await h.token("carol", "c-race"))).json()) as { ticket: string };
      const outcomes = await Promise.all(Array.from({ length: 8 }, () => wsOutcome(h, { query: `ticket=${encodeURIComponent(ticket)}` })));
      expect(outcomes.filter((o) => o.opened).length).toBe(1);
    });

    test("a ticket session is the token's user and device", async () => {
      const { ticket } = (await (await ticketFor(h, await h.token("carol", "c2"))).json()) as { ticket: string };
      const raw = await RawConn.openUrl(`${h.server.wsUrl}?ticket=${encodeURIComponent(ticket)}`);
      const r = await raw.request(Method.Connect, { v: 1 });
      expect(r.code).toBe(0);
      expect(r.body).toMatchObject({ user: "carol", device: "c2" });
      await raw.expectAlive();
      raw.close();
    });

    test("unknown and made-up tickets are refused: 401 ticket-invalid", async () => {
      await refusedBoth({ query: "ticket=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" }, 401, "ticket-invalid");
    });

    test("POST /v1/tickets needs a valid token", async () => {
      const none = await fetch(`${h.server.httpUrl}/v1/tickets`, { method: "POST" });
      expect(none.status).toBe(401);
      expect(((await none.json()) as { code: string }).code).toBe("credentials-missing");

      const key = await signingKey(h);
      const forged = await customToken({ key: crypto.getRandomValues(new Uint8Array(32)), kid: key.kid, sub: "carol", dev: "c1" });
      const bad = await ticketFor(h, forged);
      expect(bad.status).toBe(401);
      expect(((await bad.json()) as { code: string }).code).toBe("token-bad-signature");

      const now = Math.floor(Date.now() / 1000);
      const expired = await customToken({ key: key.key, kid: key.kid, sub: "carol", dev: "c1", iat: now - 7200, exp: now - 3600 });
      const old = await ticketFor(h, expired);
      expect(old.status).toBe(401);
      expect(((await old.json()) as { code: string }).code).toBe("token-expired");
    });

    embeddedOnly(topology, "moves the server's clock", () => {
      test("an expired ticket is refused: 401 ticket-invalid", async () => {
        const clock = new ManualClock();
        const hs = await startHarness({ auth: { ticketTtlMs: 50 } }, { clock });
        try {
          const { ticket } = (await (await ticketFor(hs, await hs.token("dave", "d1"))).json()) as { ticket: string };
          clock.advance(51);
          await expectRefused(hs, { query: `ticket=${encodeURIComponent(ticket)}` }, 401, "ticket-invalid");
          const { ticket: t2 } = (await (await ticketFor(hs, await hs.token("dave", "d1"))).json()) as { ticket: string };
          clock.advance(51);
          expect((await wsOutcome(hs, { query: `ticket=${encodeURIComponent(t2)}` })).opened).toBe(false);
          // Within its lifetime a ticket works.
          const { ticket: t3 } = (await (await ticketFor(hs, await hs.token("dave", "d1"))).json()) as { ticket: string };
          clock.advance(49);
          expect((await wsOutcome(hs, { query: `ticket=${encodeURIComponent(t3)}` })).opened).toBe(true);
        } finally {
          await hs.stop();
        }
      });
    });
  });

  embeddedOnly(topology, "reads the in-process server's log", () => {
    describe("credentials stay out of the logs", () => {
      test("no log line contains a token or a ticket, for refused and accepted connects", async () => {
        const lines: string[] = [];
        const sink = new Writable({
          write(chunk, _enc, done) {
            lines.push(...String(chunk).split("\n").filter(Boolean));
            done();
          },
        });
        const dataDir = mkdtempSync(join(tmpdir(), "msgr-sec-log-"));
        const config = testConfig(dataDir, { log: { level: "debug" } });
        const server = await startServer(config, { log: pino({ level: "debug" }, sink) });
        const hl: Target & Pick<Harness, "token"> = {
          server,
          dataDir,
          token: (user, device, opts) => mintToken(config, user, device, opts),
        };
        const secrets: string[] = [];
        try {
          const good = await hl.token("erin", "e1");
          secrets.push(good);
          const key = await embeddedKey(hl);
          const now = Math.floor(Date.now() / 1000);
          const expired = await customToken({ key: key.key, kid: key.kid, sub: "erin", dev: "e1", iat: now - 7200, exp: now - 3600 });
          const forged = await customToken({ key: crypto.getRandomValues(new Uint8Array(32)), kid: key.kid, sub: "erin", dev: "e1" });
          secrets.push(expired, forged);

          // Refused connects.
          await expectRefused(hl, { bearer: expired }, 401, "token-expired");
          await expectRefused(hl, { protocols: ["msgr.v1", `bearer.${forged}`] }, 401, "token-bad-signature");
          await expectRefused(hl, { query: `token=${good}` }, 400, "token-in-url");
          expect((await wsOutcome(hl, { bearer: forged })).opened).toBe(false);

          // Accepted connects, a ticket, a used ticket, and a full SDK session with traffic.
          expect((await wsOutcome(hl, { bearer: good })).opened).toBe(true);
          const { ticket } = (await (await ticketFor(hl, good)).json()) as { ticket: string };
          secrets.push(ticket);
          expect((await wsOutcome(hl, { query: `ticket=${ticket}` })).opened).toBe(true);
          await expectRefused(hl, { query: `ticket=${ticket}` }, 401, "ticket-invalid");
          const ftoken = await hl.token("frank", "f1");
          secrets.push(ftoken);
          const c = new Client({ url: server.wsUrl, token: ftoken, reconnect: false });
          const synced = nextEvent(c, "synced");
          await c.connect();
          await synced;
          await c.openDirect("erin");
          c.close();
          await until(() => server.node.sessionCount === 0, 10_000, "the server to see the close");
        } finally {
          await server.stop();
          rmSync(dataDir, { recursive: true, force: true });
        }
        // The logger was really in use (the test would pass vacuously otherwise).
        expect(lines.some((l) => l.includes("edge listening"))).toBe(true);
        const all = lines.join("\n");
        for (const s of secrets) {
          expect(all.includes(s)).toBe(false);
          // Not even the signature part alone.
          const sig = s.split(".")[2];
          if (sig && sig.length > 10) expect(all.includes(sig)).toBe(false);
        }
      });
    });
  });

  describe("devices per user", () => {
    let capped: Harness;
    beforeAll(async () => {
      capped = await startHarness({ limits: { maxDevicesPerUser: 3 } }, { topology });
    }, HARNESS_START_MS);
    afterAll(() => capped.stop());

    test("a new device past limits.maxDevicesPerUser is refused (403 too-many-devices); known ones connect; revoking one makes room", async () => {
      for (const d of ["d1", "d2", "d3"]) expect((await wsOutcome(capped, { bearer: await capped.token("many", d) })).opened).toBe(true);
      await refusedBoth({ bearer: await capped.token("many", "d4") }, 403, "too-many-devices", capped);
      // Nothing was recorded for the refused device, and the known ones still connect.
      const phone = await capped.client("many", "d1");
      expect((await phone.devices()).map((d) => d.device).sort()).toEqual(["d1", "d2", "d3"]);
      expect((await wsOutcome(capped, { bearer: await capped.token("many", "d2") })).opened).toBe(true);
      // Another user is not affected.
      expect((await wsOutcome(capped, { bearer: await capped.token("other", "d4") })).opened).toBe(true);
      await phone.revokeDevice("d3");
      expect((await wsOutcome(capped, { bearer: await capped.token("many", "d4") })).opened).toBe(true);
    });
  });
});
