// The real terminal client in a real terminal (tmux), against a real server, with bob on the
// SDK: ticks change on alice's message line itself, the device id survives a restart, `~` is
// expanded, and a command typed while the server is away runs once it is back.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import pino from "pino";
import sharp from "sharp";
import { startServer, type RunningServer } from "../../src/server.ts";
import { MessageKind, type Client, type WireMessage } from "../../src/sdk/index.ts";
import { nextEvent, startHarness, text, until, type Harness } from "../helpers/harness.ts";

const ROOT = new URL("../..", import.meta.url).pathname;
const SESSION = `msgr-test-${process.pid}`;
const BLUE_TICKS = "\x1b[34m✓✓";

let h: Harness;
let server: RunningServer;
let bob: Client;
let home: string;

function tmux(...args: string[]): string {
  const r = Bun.spawnSync(["tmux", ...args], { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`tmux ${args.join(" ")}: ${r.stderr.toString()}`);
  return r.stdout.toString();
}

/** The pane's text with colours (-e) and joined wrapped lines (-J). */
const screen = () => tmux("capture-pane", "-p", "-e", "-J", "-t", SESSION);
const plain = () => screen().replace(/\x1b\[[0-9;]*m/g, "");
const waitFor = (pred: (s: string) => boolean, what: string) => until(() => pred(plain()), 15_000, `${what}; screen:\n${plain()}`);
function type(line: string): void {
  tmux("send-keys", "-t", SESSION, "-l", line);
  tmux("send-keys", "-t", SESSION, "Enter");
}

function startChat(): void {
  const cmd = [process.execPath, join(ROOT, "src/cli/main.ts"), "chat", "--user", "alice", "--url", server.wsUrl].join(" ");
  tmux("new-session", "-d", "-s", SESSION, "-x", "100", "-y", "30", "-e", `MSGR_SERVER_DATA_DIR=${h.dataDir}`, "-e", `HOME=${home}`, "-e", "MSGR_CONFIG=", cmd);
}

beforeAll(async () => {
  h = await startHarness();
  server = h.embedded;
  home = join(h.dataDir, "home");
  mkdirSync(home);
  await sharp({ create: { width: 64, height: 48, channels: 3, background: "#36c" } }).png().toFile(join(home, "photo.png"));
  bob = await h.client("bob");
  startChat();
});

afterAll(async () => {
  try {
    tmux("kill-session", "-t", SESSION);
  } catch {
    // already gone
  }
  if (server !== h.server) await server.stop();
  await h.stop();
});

let device = "";

test("ticks change on the message's own line: ✓ stored, ✓✓ delivered, blue ✓✓ read", async () => {
  await waitFor((s) => /connected as alice \(device term-[0-9a-f]{8}\)/.test(s), "connected");
  device = /device (term-[0-9a-f]{8})/.exec(plain())![1]!;
  type("/dm bob");
  await waitFor((s) => s.includes("[bob] >"), "the conversation with bob open");
  const got = nextEvent(bob, "message", (m) => text(m) === "hello bob");
  type("hello bob");
  const m = await got;
  await waitFor((s) => /alice: hello bob ✓✓/.test(s), "delivered ticks on the line");
  await bob.markRead(m.conv, m.seq);
  await until(() => screen().includes(`: hello bob ${BLUE_TICKS}`), 15_000, `blue ticks on the line; screen:\n${JSON.stringify(screen())}`);
  // No tick lines of their own, and the message is shown once.
  expect(plain()).not.toMatch(/^\s*✓/m);
  expect(plain().match(/alice: hello bob/g)).toHaveLength(1);
});

test("/image ~/photo.png reads from the home directory", async () => {
  const got = nextEvent(bob, "message", (m: WireMessage) => m.kind === MessageKind.Media);
  type("/image ~/photo.png a square");
  const m = await got;
  expect(text(m)).toBe("a square");
  await waitFor((s) => s.includes(`uploading ${join(home, "photo.png")}`), "the expanded path");
});

test("a command typed while the server is away runs when it is back", async () => {
  const port = server.port;
  await server.stop();
  await waitFor((s) => s.includes("reconnecting"), "the lost connection noticed");
  type("/dm carol");
  await waitFor((s) => s.includes("(not connected: /dm runs when the connection is back)"), "the command queued");
  server = await startServer({ ...h.config, server: { ...h.config.server, port } }, { log: pino({ level: "silent" }) });
  await waitFor((s) => s.includes("[carol] >"), "the queued /dm carried out");
});

test("a restarted client is the same device", async () => {
  type("/quit");
  await until(() => Bun.spawnSync(["tmux", "has-session", "-t", SESSION], { stderr: "ignore" }).exitCode !== 0, 15_000, "the client exited");
  startChat();
  await waitFor((s) => s.includes(`connected as alice (device ${device})`), "the same device id");
});
