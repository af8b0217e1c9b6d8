// Media through the protocol on the embedded server: upload straight to the (local-disk) store
// with a signed policy, send a message that references it, download as a member only, and a
// thumbnail that follows as a system message.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Config, DeepPartial } from "../../src/config/config.ts";
import sharp from "sharp";
import { decodeSystemEvent, ErrorCode, MessageKind, Method, ProtocolError, SystemOp, type SystemEvent } from "../../src/sdk/index.ts";
import { nextEvent, startHarness, type Harness } from "../helpers/harness.ts";
import { startMinio } from "../helpers/services/minio.ts";

const codeOf = (p: Promise<unknown>) => p.then(() => 0, (e) => (e instanceof ProtocolError ? e.code : -1));
const png = (w: number, hgt: number) => sharp({ create: { width: w, height: hgt, channels: 3, background: "#3366ff" } }).png().toBuffer().then((b) => new Uint8Array(b));

/** The same flow on each object store: the edge's local disk, and a real MinIO. */
const stores: [string, () => Promise<{ overrides: DeepPartial<Config>; stop(): Promise<void> }>][] = [
  ["local disk", async () => ({ overrides: {}, stop: async () => {} })],
  [
    "minio",
    async () => {
      const m = await startMinio();
      return { overrides: { media: { store: "minio" }, minio: { endPoint: m.endPoint, port: m.port, accessKey: m.accessKey, secretKey: m.secretKey } }, stop: m.stop };
    },
  ],
];

describe.each(stores)("media on %s", (_name, open) => {
  let h: Harness;
  let store: Awaited<ReturnType<typeof open>>;
  beforeAll(async () => {
    store = await open();
    h = await startHarness({ ...store.overrides, media: { maxImageBytes: 200_000, ...store.overrides.media } });
  }, 600_000);
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
});
