// The SDK as an app team gets it: `npm pack` makes a tarball, npm installs it into a fresh
// project outside the repository, and a plain script there chats through a real server under
// Node.js (the `node` on PATH: 20 in CI, with the ws package), Deno (the npm `deno` package) and
// Chromium (the installed files loaded as they are, through an import map).
// TypeScript finds the declarations through the package's `exports`.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { copyFileSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { startHarness, type Harness } from "../helpers/harness.ts";

const ROOT = new URL("../..", import.meta.url).pathname;
const CONSUMER = new URL("./consumer/", import.meta.url).pathname;

/** Runs a command to completion without blocking the event loop (the server runs in this process). */
async function run(cmd: string[], cwd: string): Promise<string> {
  const proc = Bun.spawn(cmd, { cwd, stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" } });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`${cmd.join(" ")} exited ${code} in ${cwd}:\n${out}\n${err}`);
  return out;
}

let h: Harness;
let project: string;

beforeAll(async () => {
  // The browser's page comes from another origin (the fresh project's directory, served below).
  h = await startHarness({ server: { allowedOrigins: ["*"] } });
  project = mkdtempSync(join(tmpdir(), "msgr-sdk-consumer-"));
  // `prepack` compiles the SDK, so the tarball holds what the sources say now.
  const packed = JSON.parse(await run(["npm", "pack", "-w", "@msgr/sdk", "--pack-destination", project, "--json"], ROOT)) as { filename: string; files: { path: string }[] }[];
  const tarball = packed[0]!.filename.replace(/^@/, "").replace("/", "-");
  expect(readdirSync(project)).toContain(tarball);
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "sdk-consumer", private: true, type: "module" }));
  for (const f of ["chat.mjs", "chat-lib.mjs", "page.html", "types.ts", "tsconfig.json"]) copyFileSync(join(CONSUMER, f), join(project, f));
  await run(["npm", "install", "--no-audit", "--no-fund", "--prefer-offline", `./${tarball}`, "ws@8.23.0", "deno@2.9.6"], project);
}, 240_000);

afterAll(async () => {
  await h?.stop();
  if (project) rmSync(project, { recursive: true, force: true });
});

test("the tarball holds compiled JavaScript and declarations, no TypeScript sources", async () => {
  const files = JSON.parse(await run(["npm", "pack", "-w", "@msgr/sdk", "--dry-run", "--json", "--ignore-scripts"], ROOT))[0].files.map((f: { path: string }) => f.path);
  expect(files).toContain("dist/sdk/index.js");
  expect(files).toContain("dist/sdk/index.d.ts");
  expect(files).toContain("dist/sdk/e2ee.js");
  expect(files).toContain("dist/sdk/e2ee.d.ts");
  expect(files).toContain("package.json");
  expect(files.filter((f: string) => f.endsWith(".ts") && !f.endsWith(".d.ts"))).toEqual([]);
}, 60_000);

test("TypeScript resolves the package's types through its exports", async () => {
  await run(["node", join(ROOT, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.json"], project);
}, 60_000);

test("a Node.js script in the fresh project chats through the server", async () => {
  const [writer, reader] = await Promise.all([h.token("alice", "node-a"), h.token("bob", "node-b")]);
  const out = JSON.parse(await run(["node", "chat.mjs", h.server.wsUrl, writer, reader, "bob"], project));
  expect(out.runtime).toStartWith("node ");
  expect(out).toMatchObject({ text: "hello from node", from: "alice", ackSeq: 1, allRead: 1 });
  // Node.js 20 and 21 have no global WebSocket: the SDK says what to pass instead.
  if (Number(out.runtime.slice(5).split(".")[0]) < 22) expect(out.missingWebSocket).toContain('import WebSocket from "ws"');
}, 60_000);

test("the same script chats under Deno", async () => {
  const [writer, reader] = await Promise.all([h.token("carol", "deno-c"), h.token("dave", "deno-d")]);
  const deno = join(project, "node_modules/.bin/deno");
  const out = JSON.parse(await run([deno, "run", "--allow-net", "--allow-env", "--allow-read", "chat.mjs", h.server.wsUrl, writer, reader, "dave"], project));
  expect(out.runtime).toStartWith("deno ");
  expect(out).toMatchObject({ missingWebSocket: null, text: "hello from deno", from: "carol", ackSeq: 1, allRead: 1 });
}, 60_000);

test("the API reference generates from the sources without warnings", async () => {
  // typedoc.json treats warnings as errors: an exported type the reference cannot link fails here.
  await run(["node", join(ROOT, "node_modules/typedoc/bin/typedoc"), "--emit", "none"], join(ROOT, "packages/sdk"));
}, 60_000);

test("a browser page loads the installed package's ESM as it is and chats", async () => {
  const chromiumPath = process.env.MSGR_CHROMIUM || Bun.which("chromium");
  if (!chromiumPath) throw new Error("no chromium on PATH: run `bash infra/services/install-clients.sh` (or set MSGR_CHROMIUM)");
  // A static server for the fresh project: its page, its script and its node_modules.
  const files = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: (req) => {
      const path = decodeURIComponent(new URL(req.url).pathname);
      const file = Bun.file(join(project, path));
      return path.includes("..") ? new Response("no", { status: 400 }) : file.exists().then((ok) => (ok ? new Response(file) : new Response("not found", { status: 404 })));
    },
  });
  const browser = await chromium.launch({ executablePath: chromiumPath, args: ["--no-sandbox"] });
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(`http://127.0.0.1:${files.port}/page.html`);
    await page.waitForFunction("document.title === 'ready'", undefined, { timeout: 15_000 });
    const [writer, reader] = await Promise.all([h.token("erin", "browser-e"), h.token("frank", "browser-f")]);
    const out = (await page.evaluate(`window.runChat(${JSON.stringify(h.server.wsUrl)}, "${writer}", "${reader}", "frank")`)) as Record<string, unknown>;
    expect(errors).toEqual([]);
    expect(String(out.runtime)).toContain("Chrome/");
    expect(out).toMatchObject({ text: "hello from browser", from: "erin", ackSeq: 1, allRead: 1 });
  } finally {
    await browser.close();
    files.stop(true);
  }
}, 60_000);
