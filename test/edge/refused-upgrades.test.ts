// A refused WebSocket upgrade is invisible to the client (it sees a failed handshake), so the
// server logs it at warn with the reason and counts it by reason in /metrics.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { startServer, type RunningServer } from "../../src/server.ts";
import { testConfig } from "../helpers/harness.ts";
import { customToken, upgradeRequest } from "../security/ws.ts";

const lines: Record<string, unknown>[] = [];
let server: RunningServer;
let dataDir: string;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), "msgr-refused-"));
  const log = pino({ level: "warn" }, { write: (s: string) => void lines.push(JSON.parse(s)) });
  server = await startServer(testConfig(dataDir), { log });
});

afterAll(async () => {
  await server.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

async function refusedCount(reason: string): Promise<number> {
  const text = await (await fetch(`${server.httpUrl}/metrics`)).text();
  const m = new RegExp(`^msgr_upgrades_refused_total\\{reason="${reason}"\\} (\\d+)$`, "m").exec(text);
  return m ? Number(m[1]) : 0;
}

// upgradeRequest only reads the harness's server URLs.
const target = () => ({ server }) as unknown as Parameters<typeof upgradeRequest>[0];

test("a token signed with a key the server does not have: warn log with the reason, counted", async () => {
  const stranger = await customToken({ key: crypto.getRandomValues(new Uint8Array(32)), kid: "someone-elses-key", sub: "alice" });
  const before = await refusedCount("token-unknown-key");
  const r = await upgradeRequest(target(), { bearer: stranger });
  expect(r).toMatchObject({ status: 401, code: "token-unknown-key" });
  expect(await refusedCount("token-unknown-key")).toBe(before + 1);
  const line = lines.find((l) => l.reason === "token-unknown-key");
  expect(line).toMatchObject({ level: 40, status: 401 });
  expect(String(line!.msg)).toStartWith("websocket upgrade refused: ");
  // The credential itself never reaches the log.
  expect(JSON.stringify(lines)).not.toContain(stranger);
});

test("each reason has its own series", async () => {
  await upgradeRequest(target(), {});
  await upgradeRequest(target(), { bearer: "x", query: "token=abc" });
  expect(await refusedCount("credentials-missing")).toBe(1);
  expect(await refusedCount("token-in-url")).toBe(1);
  expect(lines.filter((l) => l.reason === "credentials-missing")).toHaveLength(1);
});
