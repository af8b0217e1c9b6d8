// The embedded media backend: objects on local disk, uploaded and downloaded through the edge
// (local-media-routes.ts) with HMAC-signed forms and URLs that play the part of S3's presigned
// POST policies and GET URLs, so clients use one flow whichever backend the server runs.
//
// Each object is one file holding a header line (its content type, a tab, the SHA-256 of its
// bytes), then the bytes, written to a temporary file and published with a single link(), so no
// reader sees bytes without their header. link() fails when the name exists, which is what makes
// objects immutable: no upload, put or copy ever replaces one. A copy is a second link to the same
// file, which nothing ever writes again. Files are named by the SHA-256 of the key, so no key,
// however crafted, can name a path outside `dir`.

import { createHash, createHmac, randomUUID, timingSafeEqual } from "node:crypto";
import { access, link, mkdir, open, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { ObjectExistsError, type ObjectInfo, type ObjectStore, type UploadForm, type UploadSpec } from "./object-store.ts";

export type MediaRefusalCode =
  | "bad-form"
  | "bad-key"
  | "bad-signature"
  | "policy-expired"
  | "url-expired"
  | "wrong-content-type"
  | "too-large"
  | "wrong-size"
  | "checksum-mismatch"
  | "already-uploaded"
  | "not-found";

/** Why an upload or download is refused; the routes answer `status` with `{ code, message }`. */
export class MediaRefusal extends Error {
  constructor(
    readonly code: MediaRefusalCode,
    message: string,
    readonly status = 403,
  ) {
    super(message);
  }
}

/** What a verified upload form allows: one object at `key`, of `contentType`, exactly `size` bytes whose SHA-256 is `sha256`. */
export interface UploadPolicy {
  key: string;
  contentType: string;
  size: number;
  sha256: string;
}

export interface StoredObject extends ObjectInfo {
  /** The object's bytes, read from disk when the response is sent. */
  body: Blob;
}

export const UPLOAD_PATH = "/v1/media/upload";
export const OBJECTS_PATH = "/v1/media/objects/";
const KEY_CHARS = /^[A-Za-z0-9_.-]+(?:\/[A-Za-z0-9_.-]+)*$/;
// Printable ASCII only: the type is stored as one line and sent back as a response header.
const CONTENT_TYPE = /^[\x21-\x7e][\x20-\x7e]{0,254}$/;
const SHA256_HEX = /^[a-f0-9]{64}$/;
/** The longest header line: a 255-character type, a tab, 64 hex digits, a newline. */
const HEADER_MAX = 512;

/**
 * Keys the server may choose: URL-safe path segments, so a key is its own URL path. No `.` or `..`
 * segment (URL normalisation would change the path the download URL was signed for).
 */
export function isValidKey(key: string): boolean {
  return key.length <= 1024 && KEY_CHARS.test(key) && !key.includes("..") && !key.split("/").includes(".");
}

function requireKey(key: string): void {
  if (!isValidKey(key)) throw new MediaRefusal("bad-key", `invalid object key ${JSON.stringify(key)}`);
}

export class LocalDiskObjectStore implements ObjectStore {
  readonly #dir: string;
  readonly #secret: Uint8Array;
  readonly #baseUrl: () => string;

  /** `baseUrl` is read on every presign: the edge may learn its public address after the store exists. */
  constructor(opts: { dir: string; secret: Uint8Array; baseUrl: () => string }) {
    if (opts.secret.length < 32) throw new Error("LocalDiskObjectStore: the signing secret needs at least 32 bytes");
    this.#dir = opts.dir;
    this.#secret = opts.secret;
    this.#baseUrl = opts.baseUrl;
  }

  async presignUpload(key: string, spec: UploadSpec): Promise<UploadForm> {
    requireKey(key);
    if (!CONTENT_TYPE.test(spec.contentType)) throw new Error(`invalid content type ${JSON.stringify(spec.contentType)}`);
    if (!Number.isSafeInteger(spec.size) || spec.size < 1) throw new Error(`size must be a positive integer, got ${spec.size}`);
    if (!SHA256_HEX.test(spec.sha256)) throw new Error(`sha256 must be 64 lower-case hex digits, got ${JSON.stringify(spec.sha256)}`);
    const expiresAt = expiry(spec.expiresInSec);
    const fields = { key, contentType: spec.contentType, size: String(spec.size), sha256: spec.sha256, expires: String(expiresAt) };
    const signature = this.#sign(["upload", fields.key, fields.contentType, fields.size, fields.sha256, fields.expires]);
    return { url: this.#baseUrl() + UPLOAD_PATH, fields: { ...fields, signature }, expiresAt };
  }

  async presignDownload(key: string, expiresInSec: number): Promise<{ url: string; expiresAt: number }> {
    requireKey(key);
    const expiresAt = expiry(expiresInSec);
    const signature = this.#sign(["download", key, String(expiresAt)]);
    return { url: `${this.#baseUrl()}${OBJECTS_PATH}${key}?expires=${expiresAt}&signature=${signature}`, expiresAt };
  }

  /** The policy a submitted upload form grants, checked in the order that leaks least: shape, key, signature, expiry. */
  checkUpload(fields: Record<string, string>, nowMs: number): UploadPolicy {
    const { key, contentType, size, sha256, expires, signature } = fields;
    if (key === undefined || contentType === undefined || size === undefined || sha256 === undefined || expires === undefined || signature === undefined) {
      throw new MediaRefusal("bad-form", "the form needs key, contentType, size, sha256, expires and signature fields", 400);
    }
    requireKey(key);
    if (!this.#verify(["upload", key, contentType, size, sha256, expires], signature)) {
      throw new MediaRefusal("bad-signature", "the upload form was not issued by this server or was altered");
    }
    if (!(nowMs < Number(expires))) throw new MediaRefusal("policy-expired", "the upload form has expired");
    return { key, contentType, size: Number(size), sha256 };
  }

  /** Throws unless the download URL for `key` was signed here and has not expired. */
  checkDownload(key: string, expires: string, signature: string, nowMs: number): void {
    requireKey(key);
    if (!this.#verify(["download", key, expires], signature)) {
      throw new MediaRefusal("bad-signature", "the download URL was not issued by this server or was altered");
    }
    if (!(nowMs < Number(expires))) throw new MediaRefusal("url-expired", "the download URL has expired");
  }

  async stat(key: string): Promise<ObjectInfo | null> {
    const found = await this.read(key);
    return found && { size: found.size, contentType: found.contentType, sha256: found.sha256 };
  }

  /** Whether `key` holds an object. */
  async has(key: string): Promise<boolean> {
    requireKey(key);
    return access(this.#path(key)).then(
      () => true,
      () => false,
    );
  }

  async get(key: string): Promise<Uint8Array> {
    const found = await this.read(key);
    if (!found) throw new Error(`no object at ${key}`);
    return found.body.bytes();
  }

  async put(key: string, bytes: Uint8Array, contentType: string): Promise<void> {
    await this.write(key, contentType, createHash("sha256").update(bytes).digest("hex"), [bytes]);
  }

  async copy(from: string, to: string): Promise<ObjectInfo | null> {
    requireKey(from);
    requireKey(to);
    const target = this.#path(to);
    await mkdir(dirname(target), { recursive: true });
    try {
      // A second name for the same file: objects are never written after they are published, so
      // the two cannot diverge, and deleting one name leaves the other whole.
      await link(this.#path(from), target);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOENT") return null;
      if (code === "EEXIST") throw new ObjectExistsError(to);
      throw err;
    }
    return this.stat(to);
  }

  async delete(keys: string[]): Promise<void> {
    for (const key of keys) requireKey(key);
    await Promise.all(keys.map((key) => rm(this.#path(key), { force: true })));
  }

  /** The object at `key`, or null when there is none. */
  async read(key: string): Promise<StoredObject | null> {
    requireKey(key);
    const path = this.#path(key);
    let head: Buffer;
    let fileSize: number;
    try {
      const fh = await open(path, "r");
      try {
        const { buffer, bytesRead } = await fh.read({ buffer: Buffer.alloc(HEADER_MAX), position: 0 });
        head = buffer.subarray(0, bytesRead);
        fileSize = (await fh.stat()).size;
      } finally {
        await fh.close();
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw err;
    }
    const newline = head.indexOf(0x0a);
    if (newline < 0) throw new Error(`corrupt media file ${path}: no header line`);
    // Files written before the header held a SHA-256 have the content type alone.
    const [contentType = "", sha256 = null] = head.toString("latin1", 0, newline).split("\t");
    const body = Bun.file(path).slice(newline + 1, fileSize);
    return { contentType, sha256, size: body.size, body };
  }

  /**
   * Writes `chunks` as the object at `key`, whose bytes must hash to `sha256`: to a temporary file
   * first, published only once all of it is on disk and its hash matched, so a failed or refused
   * upload (the iterator throws) leaves nothing behind. Throws ObjectExistsError when `key` holds
   * an object already: it is never replaced. (A crash between publishing and removing the
   * temporary name leaves a stray file under tmp/, never a wrong object.)
   */
  async write(key: string, contentType: string, sha256: string, chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<void> {
    requireKey(key);
    if (!CONTENT_TYPE.test(contentType)) throw new Error(`invalid content type ${JSON.stringify(contentType)}`);
    if (!SHA256_HEX.test(sha256)) throw new Error(`sha256 must be 64 lower-case hex digits, got ${JSON.stringify(sha256)}`);
    const path = this.#path(key);
    const tmpDir = join(this.#dir, "tmp");
    const tmp = join(tmpDir, randomUUID());
    await Promise.all([mkdir(tmpDir, { recursive: true }), mkdir(dirname(path), { recursive: true })]);
    const fh = await open(tmp, "wx");
    try {
      const hash = createHash("sha256");
      try {
        await fh.write(`${contentType}\t${sha256}\n`);
        for await (const chunk of chunks) {
          hash.update(chunk);
          await fh.write(chunk);
        }
        await fh.datasync();
      } finally {
        await fh.close();
      }
      if (hash.digest("hex") !== sha256) throw new MediaRefusal("checksum-mismatch", "the file's SHA-256 is not the one the form was issued for");
      await link(tmp, path).catch((err: NodeJS.ErrnoException) => {
        throw err.code === "EEXIST" ? new ObjectExistsError(key) : err;
      });
    } finally {
      await rm(tmp, { force: true });
    }
  }

  async close(): Promise<void> {}

  #path(key: string): string {
    const hash = createHash("sha256").update(key).digest("hex");
    return join(this.#dir, "objects", hash.slice(0, 2), hash);
  }

  // JSON of the parts is the canonical form: unambiguous whatever characters the parts hold.
  #sign(parts: string[]): string {
    return createHmac("sha256", this.#secret).update(JSON.stringify(parts)).digest("base64url");
  }

  #verify(parts: string[], signature: string): boolean {
    const expected = Buffer.from(this.#sign(parts));
    const given = Buffer.from(signature);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }
}

function expiry(expiresInSec: number): number {
  if (!(expiresInSec > 0)) throw new Error(`expiresInSec must be positive, got ${expiresInSec}`);
  return Date.now() + Math.round(expiresInSec * 1000);
}
