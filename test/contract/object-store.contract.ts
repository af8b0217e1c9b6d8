// Behaviour every ObjectStore backend must show, driven the way a client drives it: presigned
// forms POSTed with fetch and presigned URLs fetched, against the real store. Each backend's test
// file calls objectStoreContract() with a factory that opens a fresh, empty store.
//
// Tampering is backend-neutral: the client changes whichever form fields carry the issued key or
// content type (S3 names them key and Content-Type, the local store key and contentType).

import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { ObjectExistsError, type ObjectStore, type UploadForm } from "../../src/media/object-store.ts";

export type OpenObjectStore = () => Promise<{ store: ObjectStore; close: () => Promise<void> }>;

const PNG = "image/png";
const SIZE = 1024;

let keys = 0;
const freshKey = () => `media/t${++keys}-${crypto.randomUUID()}.png`;
const bytes = (n: number, seed = 7) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);
const sha256 = (b: Uint8Array) => new Bun.CryptoHasher("sha256").update(b).digest("hex");

/** POSTs the form as a browser would: every field, then the file last. */
function submit(form: UploadForm, file: Uint8Array, opts: { fileType?: string; fields?: Record<string, string> } = {}): Promise<Response> {
  const body = new FormData();
  for (const [name, value] of Object.entries(opts.fields ?? form.fields)) body.append(name, value);
  body.append("file", new Blob([file], { type: opts.fileType ?? PNG }), "upload.png");
  return fetch(form.url, { method: "POST", body });
}

/** The form's fields with every value equal to `from` replaced by `to`. */
function replaced(fields: Record<string, string>, from: string, to: string): Record<string, string> {
  return Object.fromEntries(Object.entries(fields).map(([name, value]) => [name, value === from ? to : value]));
}

/** Expects the store to have refused the request as the client's fault, and drains the answer. */
async function expectRefused(res: Response): Promise<void> {
  await res.arrayBuffer();
  expect(res.status).toBeGreaterThanOrEqual(400);
  expect(res.status).toBeLessThan(500);
}

/** Expects the store to have stored the upload (2xx); says why not otherwise. */
async function expectStored(res: Response): Promise<void> {
  const text = await res.text();
  if (!res.ok) throw new Error(`the store refused the upload (${res.status}): ${text.slice(0, 300)}`);
}

export function objectStoreContract(name: string, open: OpenObjectStore): void {
  describe(name, () => {
    let store: ObjectStore;
    let close: () => Promise<void>;

    beforeEach(async () => {
      ({ store, close } = await open());
    });
    afterEach(async () => {
      await close();
    });

    /** A form for exactly `file` (its size and SHA-256), of `contentType`. */
    const form = (key: string, file: Uint8Array, opts: { expiresInSec?: number; contentType?: string } = {}) =>
      store.presignUpload(key, { contentType: opts.contentType ?? PNG, size: file.length, sha256: sha256(file), expiresInSec: opts.expiresInSec ?? 60 });

    test("an upload of exactly what the form declares is stored, with the store's SHA-256 of it", async () => {
      const key = freshKey();
      const before = Date.now();
      const f = await form(key, bytes(SIZE));
      expect(f.expiresAt).toBeGreaterThanOrEqual(before + 59_000);
      expect(f.expiresAt).toBeLessThanOrEqual(Date.now() + 61_000);
      await expectStored(await submit(f, bytes(SIZE)));
      expect(await store.stat(key)).toEqual({ size: SIZE, contentType: PNG, sha256: sha256(bytes(SIZE)) });
      expect(await store.get(key)).toEqual(bytes(SIZE));
    });

    test("the storage refuses a file one byte over or under the declared size, and an empty one", async () => {
      const key = freshKey();
      const f = await form(key, bytes(SIZE));
      await expectRefused(await submit(f, bytes(SIZE + 1)));
      await expectRefused(await submit(f, bytes(SIZE - 1)));
      await expectRefused(await submit(f, new Uint8Array(0)));
      expect(await store.stat(key)).toBeNull();
    });

    test("the storage refuses bytes whose SHA-256 is not the declared one", async () => {
      const key = freshKey();
      const f = await form(key, bytes(SIZE));
      await expectRefused(await submit(f, bytes(SIZE, 8)));
      expect(await store.stat(key)).toBeNull();
    });

    test("a used form cannot replace the object with other bytes", async () => {
      const key = freshKey();
      const f = await form(key, bytes(SIZE));
      await expectStored(await submit(f, bytes(SIZE)));
      await expectRefused(await submit(f, bytes(SIZE, 8)));
      expect(await store.get(key)).toEqual(bytes(SIZE));
      expect((await store.stat(key))?.sha256).toBe(sha256(bytes(SIZE)));
    });

    test("the storage refuses an upload that declares another content type", async () => {
      const key = freshKey();
      const f = await form(key, bytes(10));
      await expectRefused(await submit(f, bytes(10), { fileType: "text/html", fields: replaced(f.fields, PNG, "text/html") }));
      expect(await store.stat(key)).toBeNull();
    });

    test("a file part of another type never stores an object of that type", async () => {
      // S3 takes the type from the signed Content-Type field and ignores the file part's own;
      // the local store refuses the mismatch. Either way no text/html object appears.
      const key = freshKey();
      const res = await submit(await form(key, bytes(10)), bytes(10), { fileType: "text/html" });
      await res.arrayBuffer();
      const stored = await store.stat(key);
      if (stored) expect(stored.contentType).toBe(PNG);
      else expect(res.ok).toBe(false);
    });

    test("a file part of the declared type with parameters (charset) is stored with the declared type", async () => {
      const key = freshKey();
      const text = new TextEncoder().encode("héllo, wörld\n");
      const f = await form(key, text, { contentType: "text/plain" });
      await expectStored(await submit(f, text, { fileType: "Text/Plain; charset=UTF-8" }));
      expect(await store.stat(key)).toEqual({ size: text.length, contentType: "text/plain", sha256: sha256(text) });
    });

    test("a form cannot write any key but the one it was issued for", async () => {
      const key = freshKey();
      const other = freshKey();
      const f = await form(key, bytes(10));
      await expectRefused(await submit(f, bytes(10), { fields: replaced(f.fields, key, other) }));
      expect(await store.stat(other)).toBeNull();
      expect(await store.stat(key)).toBeNull();
    });

    test("the storage refuses an expired form", async () => {
      const key = freshKey();
      const f = await form(key, bytes(10), { expiresInSec: 1 });
      await Bun.sleep(1_500);
      await expectRefused(await submit(f, bytes(10)));
      expect(await store.stat(key)).toBeNull();
    });

    test("a download URL serves the object; one altered to another key does not", async () => {
      const key = freshKey();
      const other = freshKey();
      await store.put(key, bytes(100), PNG);
      await store.put(other, bytes(100, 9), PNG);
      const { url, expiresAt } = await store.presignDownload(key, 60);
      expect(expiresAt).toBeGreaterThan(Date.now() + 55_000);
      const res = await fetch(url);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toBe(PNG);
      expect(new Uint8Array(await res.arrayBuffer())).toEqual(bytes(100));
      await expectRefused(await fetch(url.replace(key, other)));
    });

    test("a download URL stops working when it expires", async () => {
      const key = freshKey();
      await store.put(key, bytes(100), PNG);
      const { url } = await store.presignDownload(key, 1);
      await Bun.sleep(2_100);
      await expectRefused(await fetch(url));
    });

    test("put, stat and get round-trip; a second put of the key is refused and changes nothing", async () => {
      const key = freshKey();
      await store.put(key, bytes(3000), "image/jpeg");
      expect(await store.stat(key)).toEqual({ size: 3000, contentType: "image/jpeg", sha256: sha256(bytes(3000)) });
      expect(await store.get(key)).toEqual(bytes(3000));
      await expect(store.put(key, bytes(5, 1), "image/webp")).rejects.toThrow(ObjectExistsError);
      expect(await store.stat(key)).toEqual({ size: 3000, contentType: "image/jpeg", sha256: sha256(bytes(3000)) });
      expect(await store.get(key)).toEqual(bytes(3000));
    });

    test("copy makes an independent object at a fresh key, with the store's SHA-256 of the copy", async () => {
      const from = freshKey();
      const to = `sealed/${crypto.randomUUID()}`;
      const f = await form(from, bytes(SIZE));
      await expectStored(await submit(f, bytes(SIZE)));
      expect(await store.copy(from, to)).toEqual({ size: SIZE, contentType: PNG, sha256: sha256(bytes(SIZE)) });
      // Whatever happens to the source afterwards, the copy stays.
      await store.delete([from]);
      expect(await store.stat(from)).toBeNull();
      expect(await store.get(to)).toEqual(bytes(SIZE));
      const { url } = await store.presignDownload(to, 60);
      expect(new Uint8Array(await (await fetch(url)).arrayBuffer())).toEqual(bytes(SIZE));
      expect(await store.copy(freshKey(), `sealed/${crypto.randomUUID()}`)).toBeNull();
    });

    test("delete removes objects; keys that hold nothing are no error", async () => {
      const [a, b] = [freshKey(), freshKey()];
      await store.put(a, bytes(10), PNG);
      await store.put(b, bytes(10), PNG);
      await store.delete([a, freshKey()]);
      await store.delete([]);
      expect(await store.stat(a)).toBeNull();
      expect(await store.stat(b)).not.toBeNull();
      // A deleted key may be written again (the server never reuses one, but nothing is left over).
      await store.put(a, bytes(5), PNG);
      expect(await store.get(a)).toEqual(bytes(5));
    });

    test("stat of a key never written is null", async () => {
      expect(await store.stat(freshKey())).toBeNull();
    });
  });
}
