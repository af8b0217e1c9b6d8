// The embedded media backend: objects on local disk, uploaded and downloaded through the edge
// (local-media-routes.ts) with HMAC-signed forms and URLs that play the part of S3's presigned
// POST policies and GET URLs, so clients use one flow whichever backend the server runs.
//
// Each object is one file holding its content type on the first line, then the bytes: a single
// rename publishes both together, so no reader sees bytes without their type. Files are named by
// the SHA-256 of the key, so no key, however crafted, can name a path outside `dir`.

import { createHash, createHmac, randomUUID, timingSafeEqual } from "node:crypto";
import { mkdir, open, rename, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { ObjectInfo, ObjectStore, UploadForm } from "./object-store.ts";

export type MediaRefusalCode =
  | "bad-form"
  | "bad-key"
  | "bad-signature"
  | "policy-expired"
  | "url-expired"
  | "wrong-content-type"
  | "too-large"
  | "empty-file"
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

/** What a verified upload form allows: one object at `key`, of `contentType`, 1..`maxBytes` bytes. */
export interface UploadPolicy {
  key: string;
  contentType: string;
  maxBytes: number;
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
const HEADER_MAX = 256;

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

  async presignUpload(key: string, opts: { contentType: string; maxBytes: number; expiresInSec: number }): Promise<UploadForm> {
    requireKey(key);
    if (!CONTENT_TYPE.test(opts.contentType)) throw new Error(`invalid content type ${JSON.stringify(opts.contentType)}`);
    if (!Number.isSafeInteger(opts.maxBytes) || opts.maxBytes < 1) throw new Error(`maxBytes must be a positive integer, got ${opts.maxBytes}`);
    const expiresAt = expiry(opts.expiresInSec);
    const fields = { key, contentType: opts.contentType, maxBytes: String(opts.maxBytes), expires: String(expiresAt) };
    const signature = this.#sign(["upload", fields.key, fields.contentType, fields.maxBytes, fields.expires]);
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
    const { key, contentType, maxBytes, expires, signature } = fields;
    if (key === undefined || contentType === undefined || maxBytes === undefined || expires === undefined || signature === undefined) {
      throw new MediaRefusal("bad-form", "the form needs key, contentType, maxBytes, expires and signature fields", 400);
    }
    requireKey(key);
    if (!this.#verify(["upload", key, contentType, maxBytes, expires], signature)) {
      throw new MediaRefusal("bad-signature", "the upload form was not issued by this server or was altered");
    }
    if (!(nowMs < Number(expires))) throw new MediaRefusal("policy-expired", "the upload form has expired");
    return { key, contentType, maxBytes: Number(maxBytes) };
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
    return found && { size: found.size, contentType: found.contentType };
  }

  async get(key: string): Promise<Uint8Array> {
    const found = await this.read(key);
    if (!found) throw new Error(`no object at ${key}`);
    return found.body.bytes();
  }

  async put(key: string, bytes: Uint8Array, contentType: string): Promise<void> {
    await this.write(key, contentType, [bytes]);
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
    if (newline < 0) throw new Error(`corrupt media file ${path}: no content type line`);
    const body = Bun.file(path).slice(newline + 1, fileSize);
    return { contentType: head.toString("latin1", 0, newline), size: body.size, body };
  }

  /**
   * Writes `chunks` as the object at `key`: to a temporary file first, renamed into place only once
   * all of it is on disk, so a failed or refused upload (the iterator throws) leaves nothing behind.
   */
  async write(key: string, contentType: string, chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<void> {
    requireKey(key);
    if (!CONTENT_TYPE.test(contentType)) throw new Error(`invalid content type ${JSON.stringify(contentType)}`);
    const path = this.#path(key);
    const tmpDir = join(this.#dir, "tmp");
    const tmp = join(tmpDir, randomUUID());
    await Promise.all([mkdir(tmpDir, { recursive: true }), mkdir(dirname(path), { recursive: true })]);
    const fh = await open(tmp, "wx");
    try {
      try {
        await fh.write(`${contentType}\n`);
        for await (const chunk of chunks) await fh.write(chunk);
        await fh.datasync();
      } finally {
        await fh.close();
      }
      await rename(tmp, path);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
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
