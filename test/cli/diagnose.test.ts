// Why the terminal client cannot connect, in words, from the server's own answer.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { diagnoseConnection } from "../../src/cli/diagnose.ts";
import { startHarness, type Harness } from "../helpers/harness.ts";
import { freePort } from "../helpers/services/common.ts";
import { customToken } from "../security/ws.ts";

let h: Harness;
beforeAll(async () => (h = await startHarness()));
afterAll(() => h.stop());

test("a token the server accepts: nothing to explain", async () => {
  expect(await diagnoseConnection(h.server.wsUrl, await h.token("alice", "t1"))).toBeNull();
});

test("a token signed with another key: names the key file and stops", async () => {
  const foreign = await customToken({ key: crypto.getRandomValues(new Uint8Array(32)), kid: "elsewhere", sub: "alice" });
  const d = await diagnoseConnection(h.server.wsUrl, foreign, "/home/ann/data/jwks.json");
  expect(d?.fatal).toBe(true);
  expect(d?.message).toContain("token-unknown-key");
  expect(d?.message).toContain("/home/ann/data/jwks.json");
  expect(d?.message).toContain("MSGR_SERVER_DATA_DIR");
});

test("a revoked device: says to use another and stops", async () => {
  await h.client("alice", "gone");
  expect(await h.embedded.node.revokeDevice("alice", "gone")).toBe(true);
  const d = await diagnoseConnection(h.server.wsUrl, await h.token("alice", "gone"));
  expect(d).toMatchObject({ fatal: true });
  expect(d?.message).toContain("--device");
});

test("nobody listening: says so and keeps trying", async () => {
  const d = await diagnoseConnection(`ws://127.0.0.1:${await freePort()}/v1/ws`, "x");
  expect(d).toMatchObject({ fatal: false });
  expect(d?.message).toContain("msgr start");
});
