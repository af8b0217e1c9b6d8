// Runs the object store contract on the local-disk backend (its edge routes served by a Bun.serve
// on a free port) and on MinIO (a real server, built from source on first use), then what only
// the local backend's own routes must do: name each refusal, and stop reading an oversized upload.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LocalDiskObjectStore } from "../../src/media/local-disk-store.ts";
import { localMediaRoute } from "../../src/media/local-media-routes.ts";
import { MinioObjectStore } from "../../src/media/minio-store.ts";
import { minioBinary, startMinio, type MinioServer } from "../helpers/services/minio.ts";
import { objectStoreContract } from "./object-store.contract.ts";

/** A local store in a fresh directory, with the edge's media routes in front of it. */
async function openLocal(): Promise<{ store: LocalDiskObjectStore; dir: string; close: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), "msgr-media-"));
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: (req): Promise<Response> | Response => localMediaRoute(store, req, new URL(req.url)) ?? new Response("not found", { status: 404 }),
  });
  const store: LocalDiskObjectStore = new LocalDiskObjectStore({ dir, secret: crypto.getRandomValues(new Uint8Array(32)), baseUrl: () => server.url.origin });
  return {
    store,
    dir,
    close: async () => {
      await server.stop(true);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

objectStoreContract("local disk object store", openLocal);

// Skipped only when no minio binary exists and none can be built (no Go toolchain, no module proxy).
const minioMissing = await minioBinary().then(
  () => null,
  (err: Error) => err.message,
);
if (minioMissing) console.warn(`skipping the MinIO object store contract: ${minioMissing}`);

describe.skipIf(minioMissing !== null)("minio", () => {
  let server: MinioServer;
  let buckets = 0;
  beforeAll(async () => {
    server = await startMinio();
  });
  afterAll(async () => {
    await server?.stop();
  });
  const open = (extra: { publicUrl?: string } = {}) =>
    MinioObjectStore.open({ ...server, useSSL: false, bucket: `media-${++buckets}`, ...extra });

  objectStoreContract("minio object store", async () => {
    const store = await open();
    return { store, close: () => store.close() };
  });

  test("publicUrl: forms and URLs name the public address, and are signed for it", async () => {
    // localhost is the same server under another name, as a public hostname would be.
    const publicUrl = `http://localhost:${server.port}`;
    const store = await open({ publicUrl });
    await store.put("a.png", new Uint8Array([1, 2, 3]), "image/png");
    const form = await store.presignUpload("b.png", { contentType: "image/png", size: 10, sha256: "0".repeat(64), expiresInSec: 60 });
    const { url } = await store.presignDownload("a.png", 60);
    expect(form.url.startsWith(`${publicUrl}/`)).toBe(true);
    expect(url.startsWith(`${publicUrl}/`)).toBe(true);
    expect(new Uint8Array(await (await fetch(url)).arrayBuffer())).toEqual(new Uint8Array([1, 2, 3]));
    // The signature covers the host: the same URL under the server's own address is refused.
    expect((await fetch(url.replace("localhost", "127.0.0.1"))).status).toBe(403);
  });
});

describe("local media routes", () => {
  let store: LocalDiskObjectStore;
  let dir: string;
  let close: () => Promise<void>;
  beforeAll(async () => {
    ({ store, dir, close } = await openLocal());
  });
  afterAll(async () => {
    await close();
  });

  const ones = (n: number) => new Uint8Array(n).fill(1);
  const png = (n: number) => new Blob([ones(n)], { type: "image/png" });
  const sha256 = (b: Uint8Array) => new Bun.CryptoHasher("sha256").update(b).digest("hex");
  /** A form for `n` bytes of ones, as png(n) makes them. */
  const formFor = (key: string, n: number, expiresInSec = 60) => store.presignUpload(key, { contentType: "image/png", size: n, sha256: sha256(ones(n)), expiresInSec });
  async function post(fields: Record<string, string>, file: Blob, url: string): Promise<{ status: number; code?: string }> {
    const body = new FormData();
    for (const [name, value] of Object.entries(fields)) body.append(name, value);
    body.append("file", file);
    // One CI run saw a request of this suite hang (not reproduced since, in 300 runs of the test
    // and 6 of the file under load). Each post gets a connection of its own, so none inherits the
    // state of an earlier one, and a bound: a recurrence fails here, naming the request, instead
    // of at the test's timeout with no detail.
    const res = await fetch(url, { method: "POST", body, keepalive: false, signal: AbortSignal.timeout(15_000) });
    return res.status === 204 ? { status: 204 } : { status: res.status, code: ((await res.json()) as { code: string }).code };
  }

  test("each refusal says why", async () => {
    const form = await formFor("r/1.png", 8);
    const send = (file: Blob, fields: Record<string, string> = {}) => post({ ...form.fields, ...fields }, file, form.url);
    expect(await send(png(9))).toEqual({ status: 403, code: "too-large" });
    expect(await send(png(7))).toEqual({ status: 403, code: "wrong-size" });
    expect(await send(png(0))).toEqual({ status: 403, code: "wrong-size" });
    expect(await send(new Blob([new Uint8Array(8).fill(2)], { type: "image/png" }))).toEqual({ status: 403, code: "checksum-mismatch" });
    expect(await send(new Blob(["x"], { type: "image/gif" }))).toEqual({ status: 403, code: "wrong-content-type" });
    expect(await send(new Blob(["x"], { type: "image/pngx; charset=utf-8" }))).toEqual({ status: 403, code: "wrong-content-type" });
    expect(await send(png(1), { key: "r/2.png" })).toEqual({ status: 403, code: "bad-signature" });
    expect(await send(png(1), { size: "9999" })).toEqual({ status: 403, code: "bad-signature" });
    expect(await send(png(1), { sha256: sha256(ones(1)) })).toEqual({ status: 403, code: "bad-signature" });
    expect(await send(png(1), { key: "../../etc/passwd" })).toEqual({ status: 403, code: "bad-key" });
    expect(await send(png(8))).toEqual({ status: 204 });
    // Used: not even the same bytes again.
    expect(await send(png(8))).toEqual({ status: 409, code: "already-uploaded" });
    expect(await send(new Blob([new Uint8Array(8).fill(2)], { type: "image/png" }))).toEqual({ status: 409, code: "already-uploaded" });

    const expiring = await formFor("r/3.png", 1, 0.05);
    await Bun.sleep(100);
    expect(await post(expiring.fields, png(1), expiring.url)).toEqual({ status: 403, code: "policy-expired" });
  });

  test("two posts of one form racing: exactly one stores its bytes", async () => {
    const form = await formFor("r/race.png", 64 * 1024);
    const results = await Promise.all(Array.from({ length: 8 }, () => post(form.fields, png(64 * 1024), form.url)));
    expect(results.filter((r) => r.status === 204)).toHaveLength(1);
    expect(results.filter((r) => r.status !== 204)).toEqual(Array(7).fill({ status: 409, code: "already-uploaded" }));
    expect(await store.get("r/race.png")).toEqual(ones(64 * 1024));
  });

  test("an oversized upload is cut off at its declared size, not read to the end", async () => {
    const form = await formFor("r/big.png", 64 * 1024);
    const boundary = "b0undary";
    const enc = new TextEncoder();
    const head = Object.entries(form.fields).map(([n, v]) => `--${boundary}\r\ncontent-disposition: form-data; name="${n}"\r\n\r\n${v}\r\n`);
    head.push(`--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="x"\r\ncontent-type: image/png\r\n\r\n`);
    // A 256 MiB body produced on demand: the route must answer long before it is all sent.
    let sent = 0;
    const chunk = new Uint8Array(64 * 1024);
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(enc.encode(head.join("")));
      },
      pull(c) {
        if (sent >= 256 * 1024 * 1024) return c.close();
        sent += chunk.length;
        c.enqueue(chunk);
      },
    });
    // keepalive: false because Bun 1.3's fetch pools a connection it stopped sending a body on,
    // ignoring the Connection: close we answer (oven-sh/bun#36370); the next test's request
    // would land in the leftover body.
    const res = await fetch(form.url, {
      method: "POST",
      body,
      keepalive: false,
      headers: { "content-type": `multipart/form-data; boundary=${boundary}` },
    });
    expect(res.status).toBe(403);
    expect(res.headers.get("connection")).toBe("close");
    expect(((await res.json()) as { code: string }).code).toBe("too-large");
    expect(sent).toBeLessThan(32 * 1024 * 1024);
    expect(await store.stat("r/big.png")).toBeNull();
  });

  test("downloads are private, never sniffed, and refuse forged or missing objects", async () => {
    await store.put("d/1.png", new Uint8Array([5, 6]), "image/png");
    const { url } = await store.presignDownload("d/1.png", 60);
    const res = await fetch(url);
    expect(res.headers.get("cache-control")).toBe("private");
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(new Uint8Array([5, 6]));
    const forged = new URL(url);
    forged.searchParams.set("signature", "A".repeat(43));
    expect(((await (await fetch(forged)).json()) as { code: string }).code).toBe("bad-signature");

    const missing = await store.presignDownload("d/never.png", 60);
    expect((await fetch(missing.url)).status).toBe(404);
    expect((await fetch(`${new URL(url).origin}/v1/media/objects/d%2F..%2F1.png?expires=1&signature=x`)).status).toBe(403);
  });

  test("keys that could leave the store's directory or change under URL normalisation are refused", async () => {
    for (const key of ["../x", "/abs", "a/../b", "a/./b", "a//b", "a b", "a%2Fb", ""]) {
      await expect(formFor(key, 1)).rejects.toThrow("invalid object key");
      await expect(store.put(key, new Uint8Array([1]), "image/png")).rejects.toThrow("invalid object key");
      await expect(store.copy("d/1.png", key)).rejects.toThrow("invalid object key");
      await expect(store.delete([key])).rejects.toThrow("invalid object key");
    }
  });

  test("files written before the header held a SHA-256 are still read and served, without one", async () => {
    const hash = createHash("sha256").update("legacy/1.png").digest("hex");
    await mkdir(join(dir, "objects", hash.slice(0, 2)), { recursive: true });
    await writeFile(join(dir, "objects", hash.slice(0, 2), hash), Buffer.concat([Buffer.from("image/png\n"), Buffer.from([9, 8, 7])]));
    expect(await store.stat("legacy/1.png")).toEqual({ size: 3, contentType: "image/png", sha256: null });
    const res = await fetch((await store.presignDownload("legacy/1.png", 60)).url);
    expect(res.headers.get("content-type")).toBe("image/png");
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(new Uint8Array([9, 8, 7]));
  });
});
