// The `msgr` executable as a user runs it: through package.json's bin (a Node launcher that
// starts node_modules' Bun) and through npx, with help on every command and errors that say
// what to do.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startHarness, type Harness } from "../helpers/harness.ts";

const ROOT = new URL("../..", import.meta.url).pathname;
const BIN = join(ROOT, "bin/msgr.mjs");
const COMMANDS = ["start", "worker", "token", "revoke", "chat", "migrate", "env"];

/** Runs `node bin/msgr.mjs ...args` (as the bin link does) without blocking this process's server. */
async function msgr(args: string[], opts: { cwd?: string; env?: Record<string, string>; cmd?: string[] } = {}) {
  const proc = Bun.spawn([...(opts.cmd ?? ["node", BIN]), ...args], {
    cwd: opts.cwd ?? ROOT,
    env: { ...process.env, MSGR_CONFIG: "", ...opts.env },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { stdout, stderr, code };
}

let h: Harness;
let empty: string;
beforeAll(async () => {
  h = await startHarness();
  empty = mkdtempSync(join(tmpdir(), "msgr-cli-empty-"));
});
afterAll(async () => {
  await h.stop();
  rmSync(empty, { recursive: true, force: true });
});

test("msgr --help lists every command", async () => {
  const r = await msgr(["--help"]);
  expect(r.code).toBe(0);
  for (const c of COMMANDS) expect(r.stdout).toMatch(new RegExp(`^  ${c} `, "m"));
});

test("every command answers --help with its usage and options, and does nothing else", async () => {
  for (const c of COMMANDS) {
    const r = await msgr([c, "--help"], { cwd: empty });
    expect({ c, code: r.code }).toEqual({ c, code: 0 });
    expect(r.stdout).toStartWith(`usage: msgr ${c}`);
    expect(r.stdout).toContain("--help");
  }
  expect(existsSync(join(empty, "data"))).toBe(false);
});

test("npx msgr resolves the package's bin in the repository", async () => {
  const r = await msgr(["msgr", "token", "--help"], { cmd: ["npx", "--no-install"] });
  expect(r.stderr).not.toContain("could not determine executable");
  expect(r.code).toBe(0);
  expect(r.stdout).toStartWith("usage: msgr token");
}, 60_000);

test("an unknown option or command says where help is", async () => {
  const r = await msgr(["token", "--usr", "alice"]);
  expect(r.code).toBe(2);
  expect(r.stderr).toContain("--usr");
  expect(r.stderr).toContain("msgr token --help");
  const u = await msgr(["strat"]);
  expect(u.code).toBe(2);
  expect(u.stderr).toContain('unknown command "strat"');
});

test("token in a directory without the server's key refuses, names the path, and creates no key", async () => {
  const r = await msgr(["token", "--user", "alice", "--device", "d1"], { cwd: empty });
  expect(r.code).toBe(2);
  expect(r.stdout).toBe("");
  expect(r.stderr).toContain(join(empty, "data", "jwks.json"));
  expect(r.stderr).toContain("MSGR_SERVER_DATA_DIR");
  expect(existsSync(join(empty, "data"))).toBe(false);
});

test("token with the server's data directory prints a token the server accepts and names the key file", async () => {
  const r = await msgr(["token", "--user", "alice", "--device", "cli-1", "--ttl", "600"], { cwd: empty, env: { MSGR_SERVER_DATA_DIR: h.dataDir } });
  expect(r.code).toBe(0);
  expect(r.stderr).toContain(`from ${join(h.dataDir, "jwks.json")}`);
  const token = r.stdout.trim();
  const res = await fetch(`${h.server.httpUrl}/v1/tickets`, { method: "POST", headers: { authorization: `Bearer ${token}` } });
  expect(res.status).toBe(200);
});

test("msgr start through the bin drains on SIGTERM and exits 0", async () => {
  const dataDir = join(empty, "start-data");
  const proc = Bun.spawn(["node", BIN, "start"], {
    cwd: empty,
    env: { ...process.env, MSGR_CONFIG: "", MSGR_SERVER_PORT: "0", MSGR_SERVER_DATA_DIR: dataDir, MSGR_LOG_LEVEL: "info" },
    stdout: "pipe",
    stderr: "pipe",
  });
  let out = "";
  const decoder = new TextDecoder();
  const reader = proc.stdout.getReader();
  while (!out.includes('"edge listening"')) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`msgr start ended early:\n${out}\n${await new Response(proc.stderr).text()}`);
    out += decoder.decode(value);
  }
  // SIGTERM to the launcher (what systemd or npm would send) reaches the server, which drains.
  proc.kill("SIGTERM");
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    out += decoder.decode(value);
  }
  expect(await proc.exited).toBe(0);
  expect(out).toContain('"msg":"draining"');
  expect(out).toContain('"msg":"stopped"');
}, 60_000);
