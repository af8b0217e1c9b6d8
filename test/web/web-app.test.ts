// The web app in a real Chromium (Debian's, driven by playwright-core): two browser contexts
// sign in as alice and bob and chat; typing, ticks, presence and last seen, unread counts,
// groups, images with thumbnails, history by scrolling up, and two tabs as two devices.
// Screenshots are kept in test-artifacts/web/ (gitignored) to look at.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import sharp from "sharp";
import { startHarness, type Harness } from "../helpers/harness.ts";

const ROOT = new URL("../..", import.meta.url).pathname;
const ARTIFACTS = join(ROOT, "test-artifacts/web");
const CHROMIUM = process.env.MSGR_CHROMIUM || Bun.which("chromium") || Bun.which("chromium-browser");
const WAIT = { timeout: 15_000 };

let h: Harness;
let browser: Browser;
let aliceCtx: BrowserContext;
let bobCtx: BrowserContext;
let alice: Page;
let bob: Page;

/**
 * The page's DOM as the predicates below use it (this file is type-checked without the DOM
 * library). Predicates are functions, not strings: the app's Content-Security-Policy forbids
 * eval, which string predicates need.
 */
interface PageDom {
  document: {
    querySelector(s: string): { complete: boolean; naturalWidth: number } | null;
    querySelectorAll(s: string): { length: number };
    getElementById(id: string): { textContent: string | null };
  };
}

const shot = (page: Page, name: string) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`) });

async function signIn(page: Page, user: string): Promise<void> {
  await page.goto(`${h.server.httpUrl}/app/`);
  await page.fill("#dev-form input[name=user]", user);
  await page.click("#dev-form button");
  await page.waitForSelector(`#me:text-matches("^${user} · web-")`, WAIT);
}

const conv = (page: Page, name: string) => page.locator(".conv", { has: page.locator(`.name:text-is("${name}")`) });
const lastOwnTicks = (page: Page) => page.locator(".msg.own:not(.pending) .ticks").last();

beforeAll(async () => {
  if (!CHROMIUM) throw new Error("no chromium on PATH: run `bash infra/services/install-clients.sh` (or set MSGR_CHROMIUM)");
  mkdirSync(ARTIFACTS, { recursive: true });
  h = await startHarness();
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-dev-shm-usage"] });
  aliceCtx = await browser.newContext({ viewport: { width: 1000, height: 640 } });
  bobCtx = await browser.newContext({ viewport: { width: 1000, height: 640 } });
  alice = await aliceCtx.newPage();
  bob = await bobCtx.newPage();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await h?.stop();
});

test("two users sign in, chat, see typing, presence and ticks", async () => {
  await signIn(alice, "alice");
  await signIn(bob, "bob");
  await shot(alice, "01-signed-in");

  await alice.fill("#new-chat input[name=user]", "bob");
  await alice.click("#new-chat button");
  await alice.waitForSelector('#title:text-is("bob")', WAIT);

  // Bob's list shows the new conversation at once; he opens it, and alice starts typing.
  await bob.waitForSelector('.conv .name:text-is("alice")', WAIT);
  await conv(bob, "alice").click();
  await bob.waitForSelector('#title:text-is("alice")', WAIT);
  await alice.locator("#text").pressSequentially("hello b");
  await bob.waitForSelector('#typing:text-is("alice is typing…")', WAIT);
  await shot(bob, "02-typing");

  await alice.locator("#text").pressSequentially("ob");
  await alice.press("#text", "Enter");
  await bob.waitForSelector('.msg:not(.own) .text:text-is("hello bob")', WAIT);
  await bob.waitForFunction(() => (globalThis as unknown as PageDom).document.getElementById("typing").textContent === "", undefined, WAIT);
  // Bob has the conversation open in a visible tab: it is read, and alice's ticks turn blue.
  await alice.waitForSelector(".msg.own .ticks.read", WAIT);
  expect(await lastOwnTicks(alice).textContent()).toBe("✓✓");
  await bob.fill("#text", "hi alice");
  await bob.press("#text", "Enter");
  await alice.waitForSelector('.msg:not(.own) .text:text-is("hi alice")', WAIT);
  // Presence is reciprocal and needs consent (docs/protocol.md §10.3): bob's online state shows
  // once bob has written in the conversation alice opened, not before.
  await alice.waitForSelector('#status:text-is("online")', WAIT);
  await shot(alice, "03-chat-read-ticks");
});

test("unread counts for a conversation not open, cleared on opening it", async () => {
  await alice.fill("#new-group input[name=title]", "trip");
  await alice.fill("#new-group input[name=members]", "bob");
  await alice.click("#new-group button");
  await alice.waitForSelector('#title:text-is("trip")', WAIT);
  for (const t of ["first", "second"]) {
    await alice.fill("#text", t);
    await alice.press("#text", "Enter");
  }
  // Bob is in the 1:1 with alice: the group shows two unread.
  await bob.waitForSelector('.conv:has(.name:text-is("trip")) .unread:text-is("2")', WAIT);
  // Sent and stored, not yet delivered to every member… then delivered, not read.
  await alice.waitForSelector('.msg.own:has(.text:text-is("second")) .ticks.delivered', WAIT);
  await shot(bob, "04-unread");
  await conv(bob, "trip").click();
  await bob.waitForSelector('.msg .text:text-is("second")', WAIT);
  await bob.waitForSelector('.msg .from:text-is("alice")', WAIT);
  expect(await conv(bob, "trip").locator(".unread").count()).toBe(0);
  await alice.waitForSelector('.msg.own:has(.text:text-is("second")) .ticks.read', WAIT);
  await shot(bob, "05-group");
});

test("an image arrives with its thumbnail", async () => {
  const png = await sharp({ create: { width: 900, height: 600, channels: 3, background: "#2a7" } }).png().toBuffer();
  await alice.setInputFiles("#file", { name: "photo.png", mimeType: "image/png", buffer: png });
  const img = bob.locator('.msg img[data-kind="thumb"]');
  await img.waitFor(WAIT);
  // Loaded, and the thumbnail rather than the 900-pixel original.
  await bob.waitForFunction(() => {
    const i = (globalThis as unknown as PageDom).document.querySelector('.msg img[data-kind="thumb"]');
    return !!i && i.complete && i.naturalWidth > 0;
  }, undefined, WAIT);
  expect(await img.evaluate((i) => (i as unknown as { naturalWidth: number }).naturalWidth)).toBeLessThanOrEqual(h.config.media.thumbnailPx);
  await shot(bob, "06-image");
});

test("older history loads by scrolling up", async () => {
  const carol = await h.client("carol");
  const dm = await carol.openDirect("alice");
  for (let i = 1; i <= 70; i++) await carol.send(dm.id, `history ${i}`);
  // Reloaded, the tab resumes as the same device from its cursors: the 70 messages it already
  // had are not pushed again, so the conversation's history comes from the server page by page.
  await alice.waitForSelector('.conv:has(.name:text-is("carol")) .unread:text-is("70")', WAIT);
  await alice.reload();
  await alice.waitForSelector('.conv:has(.name:text-is("carol")) .unread:text-is("70")', WAIT);
  await conv(alice, "carol").click();
  await alice.waitForSelector('.msg .text:text-is("history 70")', WAIT);
  expect(await alice.locator('.msg .text:text-is("history 1")').count()).toBe(0);
  for (let page = 0; page < 3 && (await alice.locator('.msg .text:text-is("history 1")').count()) === 0; page++) {
    const before = await alice.locator(".msg").count();
    await alice.locator("#messages").evaluate((e) => e.scrollTo(0, 0));
    await alice.waitForFunction((n) => (globalThis as unknown as PageDom).document.querySelectorAll(".msg").length > n, before, WAIT);
  }
  await alice.waitForSelector('.msg .text:text-is("history 1")', WAIT);
  await alice.waitForSelector(".history-edge", WAIT);
  await shot(alice, "07-history");
});

test("a second tab is a second device, and presence shows last seen when bob leaves", async () => {
  const tab2 = await aliceCtx.newPage();
  await signIn(tab2, "alice");
  const d1 = (await alice.textContent("#me"))!.split(" · ")[1];
  const d2 = (await tab2.textContent("#me"))!.split(" · ")[1];
  expect(d2).not.toBe(d1);
  await conv(tab2, "bob").click();
  await conv(alice, "bob").click();
  await bob.click('.conv:has(.name:text-is("alice"))');
  await bob.fill("#text", "to both tabs");
  await bob.press("#text", "Enter");
  await alice.waitForSelector('.msg .text:text-is("to both tabs")', WAIT);
  await tab2.waitForSelector('.msg .text:text-is("to both tabs")', WAIT);
  await shot(tab2, "08-second-tab");

  await bobCtx.close();
  await alice.waitForSelector('#status:text-matches("^last seen")', WAIT);
  await shot(alice, "09-last-seen");
});
