// Outside development mode the web app has no name-only sign-in: the edge refuses to mint, and
// the page asks for an access token from the operator's auth service instead.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { chromium, type Browser } from "playwright-core";
import { startHarness, type Harness } from "../helpers/harness.ts";

const CHROMIUM = process.env.MSGR_CHROMIUM || Bun.which("chromium") || Bun.which("chromium-browser");
let h: Harness;
let browser: Browser;

beforeAll(async () => {
  if (!CHROMIUM) throw new Error("no chromium on PATH: run `bash infra/services/install-clients.sh` (or set MSGR_CHROMIUM)");
  h = await startHarness({ web: { devSignIn: "off" } });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-dev-shm-usage"] });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await h?.stop();
});

test("the edge refuses development sign-in when it is off", async () => {
  const res = await fetch(`${h.server.httpUrl}/app/dev-sign-in`, { method: "POST", body: JSON.stringify({ user: "mallory", device: "d" }) });
  expect(res.status).toBe(403);
  expect(((await res.json()) as { code: string }).code).toBe("dev-sign-in-off");
});

test("the page signs in with a pasted token, as the token's user and device", async () => {
  const page = await browser.newPage();
  await page.goto(`${h.server.httpUrl}/app/`);
  await page.waitForSelector("#token-form", { timeout: 15_000 });
  expect(await page.isVisible("#dev-form")).toBe(false);
  await page.fill("#token-form textarea", await h.token("alice", "laptop-1"));
  await page.click("#token-form button");
  await page.waitForSelector('#me:text-is("alice · laptop-1")', { timeout: 15_000 });
  await page.close();
});
