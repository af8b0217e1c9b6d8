// Media through the protocol on each topology: upload straight to the object store with a
// signed policy, send a message that references it, download as a member only, and a thumbnail
// that follows as a system message. Then what an attacker with an ordinary token tries: more
// slots or bytes than the quota, replacing a sent file by posting its form again, leaving
// uploads unsent to fill the disk, all on the local disk store and on a real MinIO. The media
// clock is injected: expiry and the daily quota are tested by moving it, never by waiting (on the
// embedded server, the only one whose clock a test can move).

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { existsSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Client as MinioClient } from "minio";
import type { Config, DeepPartial } from "../../src/config/config.ts";
import sharp from "sharp";
import { decodeSystemEvent, ErrorCode, MessageKind, Method, ProtocolError, SystemOp, type Client, type SystemEvent } from "../../src/sdk/index.ts";
import { HARNESS_START_MS, nextEvent, startHarness, until, type Harness } from "../helpers/harness.ts";
import { startMinio } from "../helpers/services/minio.ts";
import { ManualClock } from "../../src/clock.ts";
import { embeddedOnly, forEachTopology } from "../helpers/topology.ts";

forEachTopology((topology) => {
  const codeOf = (p: Promise<unknown>) => p.then(() => 0, (e) => (e instanceof ProtocolError ? e.code : -1));
  const errorOf = (p: Promise<unknown>) => p.then(() => null, (e: unknown) => (e instanceof ProtocolError ? { code: e.code, retryAfterMs: e.retryAfterMs } : e));
  const png = (w: number, hgt: number) => sharp({ create: { width: w, height: hgt, channels: 3, background: "#3366ff" } }).png().toBuffer().then((b) => new Uint8Array(b));
  const bytes = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 131 + seed * 17) & 0xff);
  const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
  const DAY_MS = 86_400_000;
  const OCTETS = "application/octet-stream";

  interface Slot {
    media: string;
    upload: { url: string; fields: Record<string, string>; expiresAt: number };
  }

  /** MEDIA_UPLOAD for exactly `file`. */
  const slotFor = (c: Client, file: Uint8Array, contentType = OCTETS) =>
    c.request(Method.MediaUpload, { contentType, size: file.length, sha256: sha256(file) }) as Promise<Slot>;

  /** POSTs the slot's form with `file` as a browser would; the HTTP status. */
  async function post(slot: Slot, file: Uint8Array, partType = OCTETS): Promise<number> {
    const form = new FormData();
    for (const [k, v] of Object.entries(slot.upload.fields)) form.append(k, v);
    form.append("file", new Blob([file], { type: partType }), "upload");
    // keepalive: false, as a refused upload may leave its body unread (see object-store.test.ts).
    const res = await fetch(slot.upload.url, { method: "POST", body: form, keepalive: false });
    await res.arrayBuffer();
    return res.status;
  }

  async function download(url: string): Promise<{ status: number; type: string | null; body: Uint8Array }> {
    const res = await fetch(url);
    return { status: res.status, type: res.headers.get("content-type"), body: new Uint8Array(await res.arrayBuffer()) };
  }

  /** Where the local store keeps `key` (files are named by the SHA-256 of the key). */
  const localPath = (mediaDir: string, key: string) => {
    const hash = createHash("sha256").update(key).digest("hex");
    return join(mediaDir, "objects", hash.slice(0, 2), hash);
  };

  interface OpenStore {
    overrides: DeepPartial<Config>;
    /** Puts other bytes at a media's upload key behind the store's back, as a store that checked nothing would let a client do. */
    tamper(h: Harness, media: string, file: Uint8Array): Promise<void>;
    stop(): Promise<void>;
  }

  /** The same flow on each object store: the edge's local disk, and a real MinIO. */
  const stores: [string, () => Promise<OpenStore>][] = [
    [
      "local disk",
      async () => ({
        overrides: {},
        async tamper(h, media, file) {
          const path = localPath(h.mediaDir, `media/${media}`);
          writeFileSync(`${path}.tmp`, Buffer.concat([Buffer.from(`${OCTETS}\t${sha256(file)}\n`), file]));
          renameSync(`${path}.tmp`, path);
        },
        stop: async () => {},
      }),
    ],
    [
      "minio",
      async () => {
        const m = await startMinio();
        return {
          overrides: { media: { store: "minio" }, minio: { endPoint: m.endPoint, port: m.port, accessKey: m.accessKey, secretKey: m.secretKey } },
          async tamper(h, media, file) {
            const client = new MinioClient({ endPoint: m.endPoint, port: m.port, useSSL: false, accessKey: m.accessKey, secretKey: m.secretKey });
            await client.putObject(h.config.minio.bucket, `media/${media}`, Buffer.from(file), file.length, { "Content-Type": OCTETS });
          },
          stop: m.stop,
        };
      },
    ],
  ];

  describe.each(stores)("media on %s", (name, open) => {
    let h: Harness;
    let store: OpenStore;
    /** The server's clock: it moves only when a test moves it (expiry, the daily quota's reset). */
    const clock = new ManualClock();
    const TTL_SEC = 600;
    beforeAll(async () => {
      store = await open();
      h = await startHarness(
        {
          ...store.overrides,
          media: {
            maxImageBytes: 200_000,
            maxVideoBytes: 1_000_000,
            maxDocumentBytes: 1_000_000,
            maxUploadBytesPerDay: 1_000_000,
            maxPendingUploads: 3,
            unattachedTtlSec: TTL_SEC,
            sweepIntervalMs: 20,
            ...store.overrides.media,
          },
          heartbeat: { timeoutMs: 3 * 86_400_000 },
        },
        // The clock jumps by up to a day (to the quota's reset): tokens and heartbeats outlive that.
        // Only the embedded server takes an injected clock (the tests that move it are embedded only).
        topology === "embedded" ? { clock, tokenTtlSec: 3 * 86_400 } : { topology, tokenTtlSec: 3 * 86_400 },
      );
    }, HARNESS_START_MS);
    afterAll(async () => {
      await h.stop();
      await store.stop();
    });

    test("upload, send, deliver, download by members only, thumbnail follows", async () => {
      const ann = await h.client("m-ann");
      const bob = await h.client("m-bob");
      const eve = await h.client("m-eve");
      const conv = await ann.openDirect("m-bob");
      const image = await png(800, 600);
      const media = await ann.uploadMedia(image, "image/png");

      const atBob = nextEvent(bob, "message", (m) => m.kind === MessageKind.Media);
      const thumbAtBob = nextEvent(bob, "message", (m) => m.kind === MessageKind.System && (decodeSystemEvent(m.body) as SystemEvent).op === SystemOp.ThumbnailReady);
      const ack = await ann.send(conv.id, "a blue square", { media });
      const m = await atBob;
      expect(m.media).toBe(media);

      const dl = await bob.mediaUrl(media);
      expect(dl.contentType).toBe("image/png");
      const got = new Uint8Array(await (await fetch(dl.url)).arrayBuffer());
      expect(got).toEqual(image);
      expect(await codeOf(eve.mediaUrl(media))).toBe(ErrorCode.NotFound);

      const ev = decodeSystemEvent((await thumbAtBob).body) as SystemEvent;
      expect(ev).toMatchObject({ media, ref: ack.seq, by: "m-ann" });
      const t = await bob.mediaUrl(ev.thumb!);
      const thumb = await sharp(new Uint8Array(await (await fetch(t.url)).arrayBuffer())).metadata();
      expect(thumb.format).toBe("jpeg");
      expect(Math.max(thumb.width!, thumb.height!)).toBeLessThanOrEqual(h.config.media.thumbnailPx);
      expect((await bob.mediaUrl(media)).thumb).toBe(ev.thumb!);
    });

    test("limits: oversized declarations are refused; the store refuses bytes beyond the declared size", async () => {
      const c = await h.client("m-lim");
      expect(await codeOf(c.request(Method.MediaUpload, { contentType: "image/png", size: 300_000, sha256: "0".repeat(64) }))).toBe(ErrorCode.BodyTooLarge);
      // Declare 10 bytes, upload 20: the store itself refuses.
      const slot = (await c.request(Method.MediaUpload, { contentType: "text/plain", size: 10, sha256: "0".repeat(64) })) as {
        media: string;
        upload: { url: string; fields: Record<string, string> };
      };
      const form = new FormData();
      for (const [k, v] of Object.entries(slot.upload.fields)) form.append(k, v);
      form.append("file", new Blob([new Uint8Array(20)], { type: "text/plain" }), "x");
      // Local disk answers 403, S3/MinIO 400 (EntityTooLarge): either way the store refused it.
      const status = (await fetch(slot.upload.url, { method: "POST", body: form, keepalive: false })).status;
      expect([400, 403]).toContain(status);
      const conv = await c.openDirect("m-lim-peer");
      expect(await codeOf(c.send(conv.id, "", { media: slot.media }))).toBe(ErrorCode.Conflict);
    });

    test("a message can only carry finished uploads of its sender, in one conversation", async () => {
      const a = await h.client("m-a");
      const b = await h.client("m-b");
      const c1 = await a.openDirect("m-b");
      const c2 = await a.openDirect("m-c");
      // Announced but never uploaded.
      const slot = (await a.request(Method.MediaUpload, { contentType: "image/png", size: 100, sha256: "0".repeat(64) })) as { media: string };
      expect(await codeOf(a.send(c1.id, "", { media: slot.media }))).toBe(ErrorCode.Conflict);
      const media = await a.uploadMedia(await png(10, 10), "image/png");
      // Someone else's media.
      expect(await codeOf(b.send(c1.id, "", { media }))).toBe(ErrorCode.NotFound);
      await a.send(c1.id, "here", { media });
      // Already tied to c1: not re-sendable elsewhere (forwarding re-uploads).
      expect(await codeOf(a.send(c2.id, "again", { media }))).toBe(ErrorCode.Conflict);
      // media only with kind Media.
      expect(await codeOf(a.send(c1.id, "x", { media, kind: MessageKind.Text }))).toBe(ErrorCode.InvalidParams);
    });

    test("quota: a flood of slot requests at once gets exactly the quota, of slots and of bytes", async () => {
      const file = bytes(100, 1);
      // The flood from the attack: 50 requests at once from a fresh user get exactly the quota...
      const flooder = await h.client("m-q1-flood");
      const flood = await Promise.all(Array.from({ length: 50 }, () => codeOf(slotFor(flooder, file))));
      expect(flood.filter((code) => code === 0)).toHaveLength(3);
      expect(flood.filter((code) => code === ErrorCode.RateLimited)).toHaveLength(47);
      // ...and of large slots, what the day's bytes allow: one of 1 MB.
      const bigFlooder = await h.client("m-q1-flood-big");
      const big = await Promise.all(Array.from({ length: 50 }, () => codeOf(slotFor(bigFlooder, bytes(1_000_000, 2)))));
      expect(big.filter((code) => code === 0)).toHaveLength(1);
      expect(big.filter((code) => code === ErrorCode.RateLimited)).toHaveLength(49);
    });

    test("the media swap: a used form cannot replace what was sent; the recipient downloads the bytes sent", async () => {
      const ann = await h.client("m-swap-ann");
      const bob = await h.client("m-swap-bob");
      const conv = await ann.openDirect("m-swap-bob");
      const original = bytes(5000, 4);
      const other = bytes(5000, 5);
      const slot = await slotFor(ann, original);
      expect(await post(slot, original)).toBeLessThan(300);
      const atBob = nextEvent(bob, "message", (m) => m.media === slot.media);
      await ann.send(conv.id, "the contract", { media: slot.media });
      await atBob;

      // The form again with other bytes: refused by either store (409 already-uploaded locally,
      // 400 XAmzContentChecksumMismatch on S3: the policy pins the SHA-256).
      const swap = await post(slot, other);
      expect(swap).toBe(name === "local disk" ? 409 : 400);
      // The same bytes again: a local form stores one object; S3 takes them, which changes nothing.
      expect(await post(slot, original)).toBe(name === "local disk" ? 409 : 204);
      expect(await download((await bob.mediaUrl(slot.media)).url)).toEqual({ status: 200, type: OCTETS, body: original });

      // Even bytes that reached the upload key some other way never reach recipients: they
      // download the copy made when the message was sent, and a resend keeps it.
      await store.tamper(h, slot.media, other);
      await ann.send(conv.id, "the contract, again", { media: slot.media });
      expect(await download((await bob.mediaUrl(slot.media)).url)).toEqual({ status: 200, type: OCTETS, body: original });

      // Bytes swapped in before sending are caught when the message is sent: the store's SHA-256
      // of the copy is not the declared one.
      const late = await slotFor(ann, original);
      expect(await post(late, original)).toBeLessThan(300);
      await store.tamper(h, late.media, other);
      expect(await codeOf(ann.send(conv.id, "swapped", { media: late.media }))).toBe(ErrorCode.Conflict);
    });

    test("a file part sent as type;charset=... matches its declared type", async () => {
      const eve = await h.client("m-eve");
      const fay = await h.client("m-fay");
      const conv = await eve.openDirect("m-fay");
      const text = new TextEncoder().encode("grüße, 世界\n");
      const slot = await slotFor(eve, text, "text/plain");
      expect(await post(slot, text, "text/plain;charset=utf-8")).toBeLessThan(300);
      await eve.send(conv.id, "", { media: slot.media });
      const dl = await fay.mediaUrl(slot.media);
      expect(dl.contentType).toBe("text/plain");
      expect(await download(dl.url)).toEqual({ status: 200, type: "text/plain", body: text });
      // The parameter does not make another type pass: the local store refuses it, S3 ignores the
      // part's type and keeps the declared one.
      const html = await slotFor(eve, text, "text/plain");
      const status = await post(html, text, "text/html;charset=utf-8");
      if (name === "local disk") expect(status).toBe(403);
      else await eve.send(conv.id, "", { media: html.media }).then(async () => expect((await fay.mediaUrl(html.media)).contentType).toBe("text/plain"));
    });

    // These move the server's clock (an upload slot's expiry, the quota's reset at midnight UTC),
    // which only the embedded server lets a test do; on a cluster the quota and the sweep run the
    // same code against the shared PostgreSQL (the tests above).
    embeddedOnly(topology, "moves the server's clock", () => {
      test("quota: slots beyond maxPendingUploads are refused with RateLimited until one is sent or expires", async () => {
        const q = await h.client("m-q1");
        const conv = await q.openDirect("m-q1-peer");
        const file = bytes(100, 1);
        const slots = [await slotFor(q, file), await slotFor(q, file), await slotFor(q, file)];
        // The first slot frees up when the earliest expires, unattachedTtlSec from now.
        expect(await errorOf(slotFor(q, file))).toEqual({ code: ErrorCode.RateLimited, retryAfterMs: TTL_SEC * 1000 });
        clock.advance(1000);
        expect(await errorOf(slotFor(q, file))).toEqual({ code: ErrorCode.RateLimited, retryAfterMs: TTL_SEC * 1000 - 1000 });
        // Sending one frees its slot, and one only.
        expect(await post(slots[0]!, file)).toBeLessThan(300);
        await q.send(conv.id, "", { media: slots[0]!.media });
        await slotFor(q, file);
        expect(await codeOf(slotFor(q, file))).toBe(ErrorCode.RateLimited);
      });

      test("quota: bytes announced per UTC day are refused with RateLimited until midnight, used or not", async () => {
        const q = await h.client("m-q2");
        const declare = (size: number) => q.request(Method.MediaUpload, { contentType: OCTETS, size, sha256: "0".repeat(64) });
        await declare(600_000);
        const untilMidnight = (Math.floor(clock.now() / DAY_MS) + 1) * DAY_MS - clock.now();
        expect(await errorOf(declare(400_001))).toEqual({ code: ErrorCode.RateLimited, retryAfterMs: untilMidnight });
        await declare(400_000);
        expect(await errorOf(declare(1))).toEqual({ code: ErrorCode.RateLimited, retryAfterMs: untilMidnight });
        clock.advance(untilMidnight);
        await declare(1_000_000);
      });

      test("uploads never sent are deleted when their slot expires; sent ones stay", async () => {
        const carl = await h.client("m-carl");
        const dan = await h.client("m-dan");
        const conv = await carl.openDirect("m-dan");
        const kept = bytes(3000, 6);
        const dropped = bytes(3000, 7);
        const sent = await slotFor(carl, kept);
        expect(await post(sent, kept)).toBeLessThan(300);
        await carl.send(conv.id, "", { media: sent.media });
        const unsent = await slotFor(carl, dropped);
        expect(await post(unsent, dropped)).toBeLessThan(300);
        // Before it is sent, its uploader may fetch it.
        const early = await carl.mediaUrl(unsent.media);
        expect((await download(early.url)).body).toEqual(dropped);
        if (name === "local disk") expect(existsSync(localPath(h.mediaDir, `media/${unsent.media}`))).toBe(true);

        clock.advance(TTL_SEC * 1000);
        // The record goes (MEDIA_URL no longer knows it) and so do the bytes (the URL signed before is a 404).
        await until(async () => (await codeOf(carl.mediaUrl(unsent.media))) === ErrorCode.NotFound, 10_000, "the unsent upload to be swept");
        expect((await download(early.url)).status).toBe(404);
        if (name === "local disk") {
          expect(existsSync(localPath(h.mediaDir, `media/${unsent.media}`))).toBe(false);
          expect(existsSync(localPath(h.mediaDir, `media/${sent.media}`))).toBe(false); // the sent one's upload too: its copy is served
        }
        // Too late to send it, and its slot no longer counts: the quota is whole again.
        expect(await codeOf(carl.send(conv.id, "", { media: unsent.media }))).toBe(ErrorCode.NotFound);
        await Promise.all([slotFor(carl, kept), slotFor(carl, kept), slotFor(carl, kept)]);
        // What was sent stays downloadable.
        expect(await download((await dan.mediaUrl(sent.media)).url)).toEqual({ status: 200, type: OCTETS, body: kept });
      });
    });
  });
});
